"""Train each tiny classification model once per test session and share its run directory
between tests/predict, tests/registry, tests/serving, tests/export, tests/explain and the
model CLI tests (fixtures `classification_run` and `multilabel_run` in tests/conftest.py).

Runs live under the session's base temp folder (shared by pytest-xdist workers, guarded
by a file lock), so whichever test asks first trains and the others reuse the result.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _support.jobs import write_job

# The shared models: 2 epochs at 40 px reach well above chance on both bundled sets
# (the predictor and explanation tests rely on that). checkpoint_frequency 1: their trials
# also show the per-epoch checkpoints (tests/training/test_trial_runner.py reads them).
TRAINED_SETTINGS = {
    "epochs": 2,
    "checkpoint_frequency": 1,
    "limits": {"max_trials": 1},
    "training_batch_size": 16,
    "validation_batch_size": 32,
    "learning_rate": 0.05,
    "warmup_cosine_lr_warmup_epochs": 0,
    "training_crop_size": 40,
    "validation_resize_size": 48,
    "validation_crop_size": 40,
}


def write_trained_job(folder: Path, task: str, name: str, **overrides: Any) -> Path:
    """The job file of a shared tiny model (TRAINED_SETTINGS), named `name`, with overrides."""
    options = {**TRAINED_SETTINGS, "name": name, **overrides}
    return write_job(folder, task, filename=f"{name}.yml", **options)


def run_job(job_file: Path, run_dir: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`automl job create` in a child process (one thread), as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "automl.cli.main", "job", "create", "--file", str(job_file),
               "--run-dir", str(run_dir), "--output", "json"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def trained_run(base: Path, task: str) -> Path:
    """The run directory of the tiny model of `task`, trained on first use."""
    root = base / "trained_runs"
    root.mkdir(parents=True, exist_ok=True)
    run_dir = root / task
    with open(root / f"{task}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (run_dir / "best_model" / "model.pt").is_file():
            job = write_trained_job(root / "jobs", task, f"tiny-{task.replace('_', '-')}")
            result = run_job(job, run_dir)
            if result.returncode != 0:
                raise RuntimeError(f"training failed:\n{result.stdout}\n{result.stderr}")
            printed_path(run_dir).write_text(result.stdout)
    return run_dir


def printed_path(run_dir: Path) -> Path:
    """Where the stdout of a shared run's `job create --output json` is kept."""
    return run_dir.with_name(f"{run_dir.name}.stdout.json")


def shared_base(tmp_path_factory) -> Path:
    """The folder shared by all xdist workers of this session (their basetemp's parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
