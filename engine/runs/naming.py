"""Run names that are unique without thinking, and the run directory each one gets.

- `--name N`: N, or an error when a run already has that name (anywhere: the index).
- the job file's `name:`: that name while it is free, then `name-<time>-<suffix>`
  (a cron job running the same file every night gets a new run every night).
- neither: `<file stem>-<time>-<suffix>`, as Azure generates a name for a job without one.

The folder is `<runs root>/[<experiment_name>/]<name>` unless `--run-dir` says otherwise.
"""

from __future__ import annotations

import functools
import re
import secrets
import string
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.registry.run_index import IndexedRun, RunIndex
from automl.engine.runs.rundir import check_job_name, create_run_dir, holds_job

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_BASE_MAX = 100  # leaves room for "-YYYYmmdd-HHMMSS-xxxx" within the 128-character limit


def unique_name(base: str) -> str:
    """`base-20261127-141502-k3x9`: sortable by time, and unique even within one second."""
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(4))
    return f"{base[:_BASE_MAX]}-{datetime.now():%Y%m%d-%H%M%S}-{suffix}"


def name_candidates(base: str, *, plain_first: bool) -> Iterator[str]:
    """`base` itself (when asked), then generated names without end."""
    if plain_first:
        yield base
    while True:
        yield unique_name(base)


def file_stem_name(path: str | Path) -> str:
    """A usable name from a job file's stem (`nightly job.yml` -> `nightly-job`)."""
    stem = _UNSAFE.sub("-", Path(path).stem).strip("-._")
    return stem or "job"


def experiment_folder(job) -> str | None:
    """`experiment_name`, checked to be one folder name (it becomes a level under runs/)."""
    experiment = job.resolved.get("experiment_name")
    if experiment is None:
        return None
    try:
        return check_job_name(str(experiment))
    except AutomlError:
        raise AutomlError(
            f"{job.path}: experiment_name {experiment!r} cannot be a folder name (runs are "
            "grouped in runs/<experiment_name>/<name>)",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit "
            "(at most 128 characters)",
        ) from None


def claim_run(
    job,
    name: str | None,
    run_dir: Path | None,
    runs_root: Path,
    index: RunIndex | None = None,
) -> tuple[str, Path]:
    """(the run's name, its new run directory), recorded in the index in one transaction."""
    experiment = experiment_folder(job)
    explicit = name is not None
    base = check_job_name(name) if explicit else (job.name or file_stem_name(job.path))
    folder = runs_root / experiment if experiment else runs_root
    place = functools.partial(_place, explicit=explicit, run_dir=run_dir, folder=folder)
    candidates = name_candidates(base, plain_first=explicit or job.name is not None)
    return (index or RunIndex()).claim(candidates, place, experiment=experiment, task=job.task)


def _place(
    candidate: str, taken: IndexedRun | None, *, explicit: bool, run_dir: Path | None, folder: Path
) -> Path | None:
    """The new run directory for `candidate`, or None to try the next name."""
    if taken is not None:
        if explicit:
            raise _name_taken(candidate, taken)
        return None
    target = run_dir or folder / candidate
    if holds_job(target) and run_dir is None and not explicit:
        return None  # an older run (made before the index) has this folder
    return create_run_dir(target)


def _name_taken(name: str, taken: IndexedRun) -> AutomlError:
    return AutomlError(
        f"--name {name}: a run with this name already exists ({taken.run_dir})",
        hint=f"leave --name out for a new unique name, pick another one, or continue that run "
        f"with 'automl job resume {name}' ('automl job show {name}' shows it)",
    )
