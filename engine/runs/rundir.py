"""Creating, finding, listing and signalling run directories."""

from __future__ import annotations

import json
import re
from pathlib import Path

from automl import schemas
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
_NAME_PATTERN = re.compile(schemas.job_name_pattern())  # the job file's `name` rule too
_N_NAMES_SHOWN = 10


def check_job_name(name: str) -> str:
    if not _NAME_PATTERN.match(name):
        raise UsageError(
            f"job name {name!r} is not usable as a folder name",
            hint="use letters, digits, '.', '_' and '-' (at most 128 characters)",
        )
    return name


def holds_job(run_dir: Path) -> bool:
    """The folder already holds a job record (or the start of one)."""
    return (run_dir / "summary.json").exists() or (run_dir / "job.yml").exists()


def is_run_dir(path: Path) -> bool:
    return (path / "job.yml").is_file()


def create_run_dir(run_dir: Path) -> Path:
    """Create a new run directory; refuse to reuse one that already holds a job record."""
    run_dir = run_dir.resolve()
    if holds_job(run_dir):
        raise AutomlError(
            f"run directory {run_dir} already holds a job",
            hint=f"continue it with 'automl job resume {run_dir}', or pick another "
            "--name / --run-dir",
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def find_run_dir(name_or_dir: str, runs_root: Path = RUNS_ROOT_DEFAULT) -> Path:
    """A job given by its directory, by name (the index of runs: from any folder), or by
    name under `runs_root` (runs made before the index existed)."""
    from automl.engine.registry.run_index import RunIndex

    if is_run_dir(Path(name_or_dir)):
        return Path(name_or_dir).resolve()
    indexed = RunIndex().get(name_or_dir)
    for candidate in (indexed.run_dir if indexed else None, runs_root / name_or_dir):
        if candidate is not None and is_run_dir(candidate):
            return candidate.resolve()
    raise AutomlError(
        f"no job named or at {name_or_dir!r}", hint=_known_jobs_hint(name_or_dir, runs_root)
    )


def _known_jobs_hint(name: str, runs_root: Path) -> str:
    import difflib

    known = [run["name"] for run in list_runs(runs_root)]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "? ('automl job list')"
    if known:
        shown = ", ".join(known[:_N_NAMES_SHOWN]) + (", ..." if len(known) > _N_NAMES_SHOWN else "")
        return f"known jobs: {shown} ('automl job list' lists them all)"
    where = runs_root.resolve()
    return f"no jobs are known (none in the index, none under {where}/); give the run directory"


def read_summary(run_dir: Path) -> dict:
    """summary.json of a run, or a minimal record when the job died before writing one."""
    path = run_dir / "summary.json"
    if path.is_file():
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    else:
        from automl.engine.sweep.summary import JobHeader, build_summary

        summary = build_summary(JobHeader(run_dir.name, None), [], "created", run_dir=run_dir)
    if summary.get("status") == "running" and not controller_alive(run_dir):
        summary["status"] = "interrupted"
    return summary


def list_runs(runs_root: Path = RUNS_ROOT_DEFAULT, experiment: str | None = None) -> list[dict]:
    """One short record per job, newest first: every run in the index, plus runs under
    `runs_root` made before the index existed; only `experiment`'s when given."""
    from automl.engine.registry.run_index import RunIndex

    found: dict[Path, dict] = {}
    for row in RunIndex().list(experiment):
        if is_run_dir(row.run_dir):
            found[row.run_dir.resolve()] = run_record(row.run_dir, row.experiment, row.name)
    for run_dir, folder_experiment in _runs_under(runs_root):
        if experiment in (None, folder_experiment):
            found.setdefault(run_dir.resolve(), run_record(run_dir, folder_experiment))
    return sorted(found.values(), key=lambda run: run.get("started_at") or "", reverse=True)


def _runs_under(runs_root: Path) -> list[tuple[Path, str | None]]:
    """Run directories at `runs_root/<name>` and `runs_root/<experiment>/<name>`."""
    if not runs_root.is_dir():
        return []
    runs = []
    for child in runs_root.iterdir():
        if is_run_dir(child):
            runs.append((child, None))
        elif child.is_dir():
            runs += [(grand, child.name) for grand in child.iterdir() if is_run_dir(grand)]
    return runs


def run_record(run_dir: Path, experiment: str | None = None, name: str | None = None) -> dict:
    """What `automl job list` shows of one run."""
    summary = read_summary(run_dir)
    best = summary.get("best_trial") or {}
    return {
        "name": name or summary.get("name", run_dir.name),
        "experiment": experiment,
        "task": summary.get("task"),
        "status": summary.get("status"),
        "n_trials": len(summary.get("trials", [])),
        "primary_metric": (summary.get("primary_metric") or {}).get("name"),
        "best_score": best.get("score"),
        "started_at": summary.get("started_at"),
        "run_dir": str(run_dir.resolve()),
    }
