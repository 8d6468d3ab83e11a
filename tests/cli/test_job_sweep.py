"""Sweeps through the CLI with the real trial runner (tiny model, bundled real images)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from string import Template

import pytest

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "flowers5"

SWEEP_JOB = Template("""\
type: automl
name: sweep
task: image_classification
target_column_name: label
training_data: {path: $data/train}
validation_data: {path: $data/valid}
limits: {max_trials: $max_trials, max_concurrent_trials: 2}
training_parameters:
  model_name: test_tiny_cnn
  pretrained: false
  number_of_epochs: $epochs
  training_batch_size: 32
  training_crop_size: 32
  validation_resize_size: 36
  validation_crop_size: 32
  number_of_workers: 0
  random_seed: 0
sweep:
  sampling_algorithm: $sampler
$termination
search_space:
  - learning_rate: {type: choice, values: [0.01, 0.05]}
    optimizer: {type: choice, values: [sgd, adam]}
""")

POLICIES = {
    "bandit": "  early_termination: {type: bandit, slack_factor: 0.2}",
    "median_stopping": "  early_termination: {type: median_stopping}",
    "truncation_selection": "  early_termination: "
    "{type: truncation_selection, truncation_percentage: 50}",
}


def write_job(tmp_path, sampler="random", policy=None, max_trials=3, epochs=2):
    path = tmp_path / "sweep.yml"
    termination = POLICIES[policy] if policy else ""
    path.write_text(
        SWEEP_JOB.substitute(
            data=DATA,
            max_trials=max_trials,
            epochs=epochs,
            sampler=sampler,
            termination=termination,
        )
    )
    return path


@pytest.mark.parametrize(
    ("sampler", "policy"),
    [("random", "bandit"), ("grid", "median_stopping"), ("bayesian", "truncation_selection")],
)
def test_sweep_with_real_trials(tmp_path, cli, sampler, policy):
    run_dir = tmp_path / "run"
    job = write_job(tmp_path, sampler, policy)
    code, out, err = cli(["job", "create", "--file", job, "--run-dir", run_dir, "-o", "json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed" and len(summary["trials"]) == 3
    states = {trial["state"] for trial in summary["trials"]}
    assert states <= {"complete", "pruned"}
    assert summary["best_trial"]["params"]["learning_rate"] in (0.01, 0.05)
    for trial in summary["trials"]:
        spec = json.loads((run_dir / "trials" / str(trial["number"]) / "spec.json").read_text())
        assert spec["training_parameters"]["learning_rate"] == trial["params"]["learning_rate"]
    if sampler == "grid":
        combos = {
            (t["params"]["learning_rate"], t["params"]["optimizer"]) for t in summary["trials"]
        }
        assert len(combos) == 3  # distinct grid points, never a repeat
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
