"""Sweeps through the CLI with the real trial runner (tiny model, bundled real images)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _support.jobs import write_job as job_file

POLICIES = {
    "bandit": {"type": "bandit", "slack_factor": 0.2},
    "median_stopping": {"type": "median_stopping"},
    "truncation_selection": {"type": "truncation_selection", "truncation_percentage": 50},
}
SPACE = [{"learning_rate": {"type": "choice", "values": [0.01, 0.05]},
          "optimizer": {"type": "choice", "values": ["sgd", "adam"]}}]  # fmt: skip


def write_job(tmp_path, sampler="random", policy=None, max_trials=3, epochs=2):
    """A sweep of the tiny model over 4 grid points, 2 trials at a time."""
    sweep = {"sampling_algorithm": sampler}
    if policy:
        sweep["early_termination"] = POLICIES[policy]
    limits = {"max_trials": max_trials, "max_concurrent_trials": 2}
    return job_file(tmp_path, filename="sweep.yml", name="sweep", epochs=epochs, limits=limits,
                    random_seed=0, sweep=sweep, search_space=SPACE)  # fmt: skip


def test_sweep_with_real_trials(tmp_path, cli):
    """One sweep end to end with the real trial runner: each trial trains with the parameters
    it was sampled (spec.json), and the best model is packaged. Every sampler/policy pair also
    runs with the fake trial in tests/sweep/test_controller.py (cheaper, same controller)."""
    run_dir = tmp_path / "run"
    job = write_job(tmp_path, "random", "bandit", max_trials=2)
    code, out, err = cli(["job", "create", "--file", job, "--run-dir", run_dir, "-o", "json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed" and len(summary["trials"]) == 2
    states = {trial["state"] for trial in summary["trials"]}
    assert states <= {"complete", "pruned"}
    assert summary["best_trial"]["params"]["learning_rate"] in (0.01, 0.05)
    for trial in summary["trials"]:
        spec = json.loads((run_dir / "trials" / str(trial["number"]) / "spec.json").read_text())
        assert spec["training_parameters"]["learning_rate"] == trial["params"]["learning_rate"]
    assert (run_dir / "best_model" / "model.pt").is_file()


def start_job_process(job: Path, run_dir: Path, new_session: bool = False) -> subprocess.Popen:
    """`automl job create` in its own process, as a user's shell would run it."""
    command = [sys.executable, "-m", "automl.cli.main", "job", "create", "--file", str(job),
               "--run-dir", str(run_dir)]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=new_session,
    )


def wait_for(path: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return path.exists()


def test_kill_9_then_resume_through_the_cli(tmp_path, cli):
    """The controller dies mid-sweep; `automl job resume` finishes with nothing lost."""
    job = write_job(tmp_path, max_trials=3, epochs=3)
    run_dir = tmp_path / "run"
    controller = start_job_process(job, run_dir, new_session=True)
    first_result = run_dir / "trials" / "0" / "result.json"
    assert wait_for(first_result, 240), "the first trial never finished"
    os.kill(controller.pid, signal.SIGKILL)
    controller.wait()
    finished_before = first_result.read_text()

    code, out, err = cli(["job", "resume", str(run_dir), "-o", "json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed"
    counted = [t for t in summary["trials"] if t["state"] in ("complete", "pruned")]
    assert len(counted) == 3
    assert first_result.read_text() == finished_before  # never rerun


def test_cancel_from_another_shell(tmp_path, cli):
    """`automl job cancel` stops a running job: exit code 130, status canceled."""
    job = write_job(tmp_path, max_trials=2, epochs=30)
    run_dir = tmp_path / "run"
    controller = start_job_process(job, run_dir)
    status = run_dir / "trials" / "0" / "status.json"
    assert wait_for(status, 120), "the first trial never started"
    trial_pid = json.loads(status.read_text())["pid"]
    code, out, err = cli(["job", "cancel", str(run_dir)])
    assert code == 0, err
    assert controller.wait(timeout=60) == 130
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "canceled"
    with pytest.raises(ProcessLookupError):
        os.kill(trial_pid, 0)
