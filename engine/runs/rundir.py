"""Creating, finding, listing and signalling run directories."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from automl.engine.errors import AutomlError, UsageError
from automl.engine.runs.pidfile import (  # noqa: F401  (their home before pidfile.py)
    CONTROLLER_PID_FILE,
    cancel_run,
    clear_controller_pid,
    controller_alive,
    controller_pid,
    write_controller_pid,
)

RUNS_ROOT_DEFAULT = Path("runs")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
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
