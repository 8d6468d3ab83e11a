"""Creating, finding, listing and signalling run directories."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from datetime import datetime
from pathlib import Path

from automl import schemas
from automl.engine.errors import AutomlError, UsageError
from automl.engine.utils.files import write_text_atomic

RUNS_ROOT_DEFAULT = Path("runs")
CONTROLLER_PID_FILE = "controller.pid"
_NAME_PATTERN = re.compile(schemas.job_name_pattern())  # the job file's `name` rule too
_TASK_SHORT = {
    "image_classification": "cls",
    "image_classification_multilabel": "mlcls",
    "image_object_detection": "det",
    "image_instance_segmentation": "seg",
}


def default_job_name(task: str) -> str:
    """A readable, sortable, unique-enough name: `cls-20261126-141502`."""
    return f"{_TASK_SHORT.get(task, 'job')}-{datetime.now():%Y%m%d-%H%M%S}"


def check_job_name(name: str) -> str:
    if not _NAME_PATTERN.match(name):
        raise UsageError(
            f"job name {name!r} is not usable as a folder name",
            hint="use letters, digits, '.', '_' and '-' (at most 128 characters)",
        )
    return name


def create_run_dir(run_dir: Path) -> Path:
    """Create a new run directory; refuse to reuse one that already holds a job record."""
    run_dir = run_dir.resolve()
    if (run_dir / "summary.json").exists() or (run_dir / "job.yml").exists():
        raise AutomlError(
            f"run directory {run_dir} already holds a job",
            hint=f"continue it with 'automl job resume {run_dir}', or pick another "
            "--name / --run-dir",
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def find_run_dir(name_or_dir: str, runs_root: Path = RUNS_ROOT_DEFAULT) -> Path:
    """A job given by name (under `runs_root`) or by its directory."""
    candidates = [Path(name_or_dir), runs_root / name_or_dir]
    for candidate in candidates:
        if (candidate / "job.yml").is_file():
            return candidate.resolve()
    known = [run["name"] for run in list_runs(runs_root)]
    hint = (
        f"known jobs under {runs_root}/: {', '.join(known)}"
        if known
        else (f"no jobs under {runs_root.resolve()}/; pass the run directory's path")
    )
    raise AutomlError(f"no job named or at {name_or_dir!r}", hint=hint)


def read_summary(run_dir: Path) -> dict:
    """summary.json of a run, or a minimal record when the job died before writing one."""
    path = run_dir / "summary.json"
    if path.is_file():
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    else:
        summary = {"name": run_dir.name, "status": "created", "trials": []}
    if summary.get("status") == "running" and not controller_alive(run_dir):
        summary["status"] = "interrupted"
    return summary


def list_runs(runs_root: Path = RUNS_ROOT_DEFAULT) -> list[dict]:
    """One short record per job under `runs_root`, newest first."""
    if not runs_root.is_dir():
        return []
    runs = []
    for run_dir in runs_root.iterdir():
        if not (run_dir / "job.yml").is_file():
            continue
        summary = read_summary(run_dir)
        best = summary.get("best_trial") or {}
        runs.append(
            {
                "name": summary.get("name", run_dir.name),
                "task": summary.get("task"),
                "status": summary.get("status"),
                "n_trials": len(summary.get("trials", [])),
                "best_score": best.get("score"),
                "started_at": summary.get("started_at"),
                "run_dir": str(run_dir.resolve()),
            }
        )
    return sorted(runs, key=lambda run: run.get("started_at") or "", reverse=True)


def write_controller_pid(run_dir: Path) -> None:
    write_text_atomic(run_dir / CONTROLLER_PID_FILE, f"{os.getpid()}\n")


def clear_controller_pid(run_dir: Path) -> None:
    (run_dir / CONTROLLER_PID_FILE).unlink(missing_ok=True)


def controller_pid(run_dir: Path) -> int | None:
    try:
        return int((run_dir / CONTROLLER_PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def controller_alive(run_dir: Path) -> bool:
    pid = controller_pid(run_dir)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cancel_run(run_dir: Path, wait_s: float = 30.0) -> bool:
    """Ask a running job's controller to stop (SIGTERM); True once it has stopped."""
    pid = controller_pid(run_dir)
    if pid is None or not controller_alive(run_dir):
        raise AutomlError(
            f"job at {run_dir} is not running",
            hint="'automl job show' tells its status; 'automl job resume' continues it",
        )
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not controller_alive(run_dir):
            return True
        time.sleep(0.2)
    return False
