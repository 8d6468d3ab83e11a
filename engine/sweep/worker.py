"""Workers: more controllers on one job, on this or other machines (`automl job worker`).

`automl job create --storage postgresql://...` creates the job's study and works on it;
`run_worker(name, url)` started anywhere else reads the job from the study (its run
directory, start time, limits: attrs.JOB_ATTR), checks that it can write the run
directory (which must be on storage every worker reaches, at the same path or given with
`run_dir`), and runs trials of the job until its limits are reached. `study_summary`
rebuilds the job's record from the study alone, for `automl job show NAME --storage URL`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.sweep.attrs import STATUS_ATTR
from automl.engine.sweep.controller import EventCallback, run_job
from automl.engine.sweep.storage import job_record, make_storage
from automl.engine.sweep.summary import JobHeader, build_summary, trial_rows
from automl.engine.trials import TRIAL_MODULE
from automl.engine.trials.storage_url import redact_url

logger = logging.getLogger("automl.sweep")

JOB_SOURCE_FILE = "job_source.json"  # written by engine/runs/submit.py


def load_job_study(name: str, storage_url: str):
    """The job's Optuna study, read-only use; AutomlError when there is none."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=make_storage(storage_url))
    except KeyError:
        raise AutomlError(
            f"no job named {name!r} in {redact_url(storage_url)}",
            hint="start it first with 'automl job create --file JOB.yml --storage URL' "
            "(job names are the study names)",
        ) from None


def run_worker(
    name: str,
    storage_url: str,
    *,
    run_dir: Path | None = None,
    gpus: list[int] | None = None,
    on_event: EventCallback | None = None,
    cancel_event: threading.Event | None = None,
    trial_module: str = TRIAL_MODULE,
    tracking_uri: str | None = None,
) -> dict:
    """Join job `name` in `storage_url` and run its trials until its limits are reached
    (tracked into the job's MLflow run when it has one: engine/sweep/tracking.py)."""
    record = job_record(load_job_study(name, storage_url))
    if not record.get("run_dir") and run_dir is None:
        raise AutomlError(
            f"job {name!r} in {redact_url(storage_url)} does not record its run directory",
            hint="pass --run-dir with the job's (shared) run directory",
        )
    folder = Path(run_dir or record["run_dir"])
    check_shared_run_dir(folder, record.get("run_dir"))
    job = load_run_job(folder)
    from automl.engine.data import load_prepared_data

    data = load_prepared_data(folder)
    logger.info("worker %s joins job %s (run directory %s)", socket.gethostname(), name, folder)
    return run_job(
        job,
        folder,
        data,
        on_event=on_event,
        storage_url=storage_url,
        gpus=gpus,
        cancel_event=cancel_event,
        trial_module=trial_module,
        join=True,
        tracking_uri=tracking_uri,
    )


def check_shared_run_dir(folder: Path, recorded: str | None) -> None:
    """The run directory must exist here and be writable (shared storage)."""
    where = f" (the job's creator wrote {recorded})" if recorded and recorded != str(folder) else ""
    hint = (
        "put the run directory on storage every worker reaches (NFS, a shared volume) and "
        "mount it at the same path on every machine, or pass --run-dir with its path here"
    )
    if not (folder / JOB_SOURCE_FILE).is_file():
        raise AutomlError(
            f"run directory {folder} is not reachable from this machine{where}", hint=hint
        )
    probe = folder / "trials" / f".write-test-{socket.gethostname()}-{os.getpid()}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as error:
        raise AutomlError(
            f"this worker cannot write to the run directory {folder}: {error}", hint=hint
        ) from None


def load_run_job(folder: Path):
    """The job as its creator loaded it (job.yml plus the recorded --set overrides)."""
    from automl.engine.config import load_job

    source = json.loads((folder / JOB_SOURCE_FILE).read_text(encoding="utf-8"))
    base_dir = Path(source["job_dir"])
    # The data is already prepared in the run directory: the job's own folder may be absent.
    job = load_job(
        folder / "job.yml",
        source.get("overrides") or [],
        check_paths=False,
        base_dir=base_dir if base_dir.is_dir() else folder,
    )
    job.name = source["name"]
    return job


def study_summary(name: str, storage_url: str) -> dict:
    """The job's record rebuilt from its study (trials, best, status), from any machine."""
    study = load_job_study(name, storage_url)
    record = job_record(study)
    rows = trial_rows(study.get_trials(deepcopy=False), {})
    status = dict(study.user_attrs.get(STATUS_ATTR) or {})
    running = any(row["state"] == "running" for row in rows)
    header = JobHeader(
        name=name,
        task=record.get("task"),
        mode=record.get("mode"),
        primary_metric=record.get("primary_metric"),
        limits=record.get("limits"),
        started_at=record.get("started_at_iso"),
    )
    return build_summary(
        header,
        rows,
        "running" if running or not status else status.get("status"),
        run_dir=record.get("run_dir"),
        error=status.get("error"),
        storage=redact_url(storage_url),
    )
