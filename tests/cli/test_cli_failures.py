"""A failed job says its error once: the engine logs each failed trial (one line per finished
trial); the CLI adds the job's `error:` line and a trial log's tail only where it says more.
It used to print the same message three times (error line, trial line, log tail)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from _support.jobs import write_job
from _support.paths import AUTOML

from automl.cli.job import _print_failures


@pytest.mark.slow
def test_a_failed_trial_message_is_printed_once_by_the_cli(tmp_path):
    """Pretrained weights missing with HF_HUB_OFFLINE set: the job fails (before its first
    trial), the error is printed once, nothing is downloaded."""
    job = write_job(tmp_path, name="fails", model="resnest50", pretrained=True)
    home = tmp_path / "home"
    env = {**os.environ, "AUTOML_HOME": str(home), "HF_HOME": str(home / "hf")}
    env.update(TORCH_HOME=str(home / "torch"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    env["AUTOML_STANDBY"] = "0"  # no trial starts: a standby process would only cost CPU
    command = [AUTOML, "job", "create", "-f", str(job), "--run-dir", str(tmp_path / "run")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if "are not in the cache" in line]
    from_cli = [line for line in said if not line.startswith(("INFO:", "WARNING:"))]
    assert len(from_cli) == 1 and from_cli[0].startswith("error: "), result.stderr
    assert "--- last lines of" not in result.stderr


def write_trial_log(run_dir: Path, number: int, text: str) -> None:
    folder = run_dir / "trials" / str(number)
    folder.mkdir(parents=True)
    (folder / "trial.log").write_text(text)


def test_a_log_tail_is_shown_only_where_it_says_more(tmp_path, capsys):
    write_trial_log(
        tmp_path, 0, "epoch 1\nERROR automl.trial: trial failed: bad weights\nhint: x\n"
    )
    write_trial_log(tmp_path, 1, "epoch 1\nTraceback (most recent call last):\nSegfault-ish\n")
    summary = {
        "run_dir": str(tmp_path),
        "error": "the first 2 trials failed",
        "trials": [
            {"number": 0, "state": "failed", "error": "bad weights\nhint: x"},
            {"number": 1, "state": "failed", "error": "trial process exited with code -11"},
            {"number": 2, "state": "complete", "error": None},
        ],
    }
    _print_failures(summary)
    err = capsys.readouterr().err
    assert err.count("error: the first 2 trials failed") == 1
    assert "bad weights" not in err  # the engine's line per failed trial said it
    assert f"--- last lines of {tmp_path / 'trials' / '1' / 'trial.log'} ---" in err
    assert "Segfault-ish" in err
