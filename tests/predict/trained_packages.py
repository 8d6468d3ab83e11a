"""Train each tiny classification model once per test session and share its run directory
between tests/predict, tests/registry, tests/serving, tests/export and the model CLI tests.

Runs live under the session's base temp folder (shared by pytest-xdist workers, guarded
by a file lock), so whichever test asks first trains and the others reuse the result.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_DATA_DIR = REPO_ROOT / "examples" / "data"

JOB_TEMPLATE = """\
type: automl
name: {name}
task: {task}
target_column_name: label
training_data:
  type: mltable
  path: {data}/train
validation_data:
  type: mltable
  path: {data}/valid
limits:
  max_trials: 1
training_parameters:
  model_name: test_tiny_cnn
  pretrained: false
  number_of_epochs: {epochs}
  training_batch_size: 16
  validation_batch_size: 32
  learning_rate: {learning_rate}
  warmup_cosine_lr_warmup_epochs: {warmup}
  training_crop_size: 40
  validation_resize_size: 48
  validation_crop_size: 40
  number_of_workers: 0
  random_seed: 1
{extra}"""

DATASETS = {
    "image_classification": "flowers5",
    "image_classification_multilabel": "chess_multilabel",
}


def write_job(
    folder: Path,
    task: str,
    name: str,
    *,
    epochs: int = 2,
    learning_rate=0.05,
    warmup: int = 0,
    extra: str = "",
    data: str | None = None,
) -> Path:
    """A tiny-model job file for `task` on its bundled dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    dataset = BUNDLED_DATA_DIR / (data or DATASETS[task])
    path.write_text(
        JOB_TEMPLATE.format(
            name=name,
            task=task,
            data=dataset,
            epochs=epochs,
            learning_rate=learning_rate,
            warmup=warmup,
            extra=extra,
        )
    )
    return path


def run_job(job_file: Path, run_dir: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`automl job create` in a child process (one thread), as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "automl.cli.main",
            "job",
            "create",
            "--file",
            str(job_file),
            "--run-dir",
            str(run_dir),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def trained_run(base: Path, task: str) -> Path:
    """The run directory of the tiny model of `task`, trained on first use."""
    root = base / "trained_runs"
    root.mkdir(parents=True, exist_ok=True)
    run_dir = root / task
    with open(root / f"{task}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (run_dir / "best_model" / "model.pt").is_file():
            job = write_job(root / "jobs", task, f"tiny-{task.replace('_', '-')}")
            result = run_job(job, run_dir)
            if result.returncode != 0:
                raise RuntimeError(f"training failed:\n{result.stdout}\n{result.stderr}")
    return run_dir


def shared_base(tmp_path_factory) -> Path:
    """The folder shared by all xdist workers of this session (their basetemp's parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
