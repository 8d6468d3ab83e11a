"""`automl job create` whose `limits.timeout_minutes` runs out mid-trial: the job completes
(exit 0) with the best epoch so far as its model, registerable and predictable, and says the
budget ended it; with no evaluated epoch it fails with one line saying to raise the limit.

The controller's clock is stopped at a chosen point by a `sitecustomize` hook loaded only
into the `automl` process (PYTHONPATH), so the test does not depend on machine speed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from _support.jobs import write_job
from _support.paths import AUTOML, BUNDLED_DATA_DIR

# The job's time runs out once a trial wrote its first best package (or at once).
CLOCK_HOOK = """
import os, sys
if os.path.basename(sys.argv[0]) == "automl":
    from automl.engine.sweep.controller import SweepController

    def _elapsed_minutes(self):
        if os.environ.get("BUDGET_TEST_AT_ONCE"):
            return 1e9
        done = self.session.run_dir / "trials" / "0" / "outputs" / "requirements.txt"
        return 1e9 if done.is_file() else 0.0

    SweepController._elapsed_minutes = _elapsed_minutes
"""


def run_automl(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AUTOML, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def hooked_env(tmp_path: Path, **extra: str) -> dict:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(CLOCK_HOOK)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, **extra}


def timed_job(tmp_path: Path) -> Path:
    return write_job(
        tmp_path, name="budget", epochs=200, early_stopping=False, limits={"timeout_minutes": 1}
    )


@pytest.mark.slow
def test_timeout_mid_trial_completes_with_a_usable_model(tmp_path):
    run_dir = tmp_path / "run"
    job = timed_job(tmp_path)
    result = run_automl(
        "job", "create", "-f", job, "--run-dir", run_dir, "-o", "json",
        cwd=tmp_path, env=hooked_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["ended_by"] == "timeout"
    (trial,) = summary["trials"]
    assert trial["state"] == "complete" and trial["stopped_by"] == "budget"
    assert 1 <= trial["epochs_completed"] < 200 and trial["score"] is not None
    assert "timeout_minutes ended it" in result.stderr.strip().splitlines()[-1]

    register = run_automl(
        "model", "register", "--name", "budgeted", "--path", run_dir / "best_model", cwd=tmp_path
    )
    assert register.returncode == 0, register.stderr
    valid = BUNDLED_DATA_DIR / "flowers5" / "valid"
    preds = tmp_path / "preds.jsonl"
    predict = run_automl(
        "model", "predict", "budgeted", "--input", valid, "--output-file", preds, cwd=tmp_path
    )
    assert predict.returncode == 0, predict.stderr
    assert preds.read_text().strip()


def test_timeout_before_any_epoch_fails_with_one_line(tmp_path):
    job = timed_job(tmp_path)
    env = hooked_env(tmp_path, BUDGET_TEST_AT_ONCE="1")
    result = run_automl(
        "job", "create", "-f", job, "--run-dir", tmp_path / "run", cwd=tmp_path, env=env
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "raise limits.timeout_minutes" in errors[0]
    assert "Traceback" not in result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["ended_by"] == "timeout"
