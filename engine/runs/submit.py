"""`automl job create` and `automl job resume` in one engine call each.

load job -> run directory (job.yml, job.resolved.yml, env.json) -> data (manifests, split)
-> the sweep controller (which also runs single trials) -> summary.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.runs.env import write_env_json
from automl.engine.runs.extras_check import require_job_extras
from automl.engine.runs.naming import claim_run
from automl.engine.runs.pidfile import controller_pid, controller_token
from automl.engine.runs.rundir import (
    RUNS_ROOT_DEFAULT,
    clear_controller_pid,
    find_run_dir,
    write_controller_pid,
)
from automl.engine.runs.weights_check import require_weights
from automl.engine.sweep.summary import utc_now
from automl.engine.utils.files import write_json_atomic, write_text_atomic

logger = logging.getLogger("automl.runs")
SOURCE_FILE = "job_source.json"
# engine/plan's entry point, its calibration store under $AUTOML_HOME (plan/cache.py
# CACHE_FILE), its limit, and its exit code when a model was never calibrated here
PLAN_MODULE = "automl.engine.plan"
PLAN_CALIBRATIONS = "plan/calibrations.json"
PLAN_LIMIT = "plan_calibration_seconds"
PLAN_NOT_CALIBRATED = 3
EventCallback = Callable[[dict], None]


def submit_job(
    job_path: str | Path,
    overrides: Sequence[str] = (),
    *,
    name: str | None = None,
    run_dir: Path | None = None,
    runs_root: Path = RUNS_ROOT_DEFAULT,
    storage_url: str | None = None,
    gpus: list[int] | None = None,
    on_event: EventCallback | None = None,
    base_dir: Path | None = None,
    tracking_uri: str | None = None,
) -> dict:
    """Validate a job file, record it in a new run directory, prepare data, run it.

    `base_dir`: the folder relative data paths are resolved against (default: the job
    file's own; the Python API's job dictionaries use the current folder). `tracking_uri`:
    log the job to MLflow (engine/tracking/; default MLFLOW_TRACKING_URI)."""
    from automl.engine.trials.storage_url import require_storage_driver

    require_storage_driver(storage_url)  # before a run directory is made
    with _standby_trial() as standby:
        job, run_dir = _create_run(job_path, overrides, name, run_dir, runs_root, base_dir)
        if on_event is not None:
            on_event(
                {
                    "type": "job_created",
                    "name": job.name,
                    "run_dir": str(run_dir),
                    "task": job.task,
                    "mode": job.mode,
                    "primary_metric": job.primary_metric,
                }
            )
        data = _prepare_data(job, run_dir)
        write_plan(run_dir)
        return _run_controller(
            job,
            run_dir,
            data,
            on_event,
            storage_url,
            gpus,
            resume=False,
            standby=standby,
            tracking_uri=tracking_uri,
        )


def _create_run(
    job_path, overrides: Sequence[str], name, run_dir, runs_root: Path, base_dir: Path | None
):
    """(the validated job, its new run directory holding the job's record)."""
    from automl.engine.config import load_job

    job = load_job(job_path, overrides, base_dir=base_dir)
    for warning in job.warnings:
        logger.warning(warning)
    require_job_extras(job)
    require_weights(job)
    asked = name or job.name
    job.name, run_dir = claim_run(job, name, run_dir, runs_root)
    if asked and asked != job.name:
        logger.info("a run named %s exists already: this run is named %s", asked, job.name)
    try:
        _record_job(job, run_dir, overrides, base_dir)
    except BaseException:
        _abandon_run(job.name, run_dir)
        raise
    logger.info("job %s: run directory %s", job.name, run_dir)
    return job, run_dir


def _abandon_run(name: str, run_dir: Path) -> None:
    """Give the name back when the run's record could not be written (nothing ran)."""
    from automl.engine.registry.run_index import RunIndex

    if not (run_dir / "job.yml").is_file():
        RunIndex().release(name)


def resume_job(
    name_or_dir: str,
    *,
    runs_root: Path = RUNS_ROOT_DEFAULT,
    storage_url: str | None = None,
    gpus: list[int] | None = None,
    on_event: EventCallback | None = None,
    tracking_uri: str | None = None,
) -> dict:
    """Continue a killed or canceled job: finished trials are kept, interrupted ones go on
    from their last checkpoint, the budget is refilled."""
    from automl.engine.config import load_job
    from automl.engine.runs.rundir import controller_alive

    run_dir = find_run_dir(name_or_dir, runs_root)
    if controller_alive(run_dir):
        raise AutomlError(
            f"job at {run_dir} is still running (controller pid {controller_pid(run_dir)})",
            hint="cancel it first: automl job cancel",
        )
    _stop_leftovers(run_dir)
    source = json.loads((run_dir / SOURCE_FILE).read_text(encoding="utf-8"))
    job = load_job(run_dir / "job.yml", source["overrides"], base_dir=Path(source["job_dir"]))
    job.name = source["name"]
    data = _load_prepared_data(run_dir)
    storage_url = storage_url or _recorded_storage(source)
    with _standby_trial() as standby:
        return _run_controller(
            job,
            run_dir,
            data,
            on_event,
            storage_url,
            gpus,
            resume=True,
            standby=standby,
            tracking_uri=tracking_uri,
        )


def _stop_leftovers(run_dir: Path) -> None:
    """Whatever the run's killed controller left running (its standby processes, trials
    still saving a checkpoint) is stopped before anything new starts."""
    from automl.engine.sweep.processes import stop_leftovers

    token = controller_token(run_dir)
    if token:
        stop_leftovers([token])


def _recorded_storage(source: dict) -> str | None:
    """The storage the job was created with; a redacted URL needs --storage again."""
    recorded = source.get("storage_url")
    if recorded and "***" in recorded:
        raise AutomlError(
            f"job {source.get('name')} uses the study storage {recorded}, whose password "
            "is not kept in the run directory",
            hint="pass it again: automl job resume NAME --storage URL",
        )
    return recorded


def _record_job(job, run_dir: Path, overrides: Sequence[str], base_dir: Path | None) -> None:
    from automl.engine.config import render_job_yaml

    write_text_atomic(run_dir / "job.yml", job.text)
    header = "# Every key with its effective value (defaults filled).\n"
    if overrides:
        header += "".join(f"# --set {override}\n" for override in overrides)
    write_text_atomic(run_dir / "job.resolved.yml", header + render_job_yaml(job))
    write_json_atomic(
        run_dir / SOURCE_FILE,
        {
            "name": job.name,
            "job_file": str(Path(job.path).resolve()),
            "job_dir": str(Path(base_dir or Path(job.path).parent).resolve()),
            "overrides": list(overrides),
            "created_at": utc_now(),
        },
    )
    write_env_json(run_dir / "env.json")


def _prepare_data(job, run_dir: Path):
    from automl.engine.data import prepare_job_data

    try:
        data = prepare_job_data(job.resolved, run_dir, job_file=str(job.path))
    except AutomlError as error:
        _write_failed_summary(job, run_dir, error)
        raise
    logger.info(
        "data: %d training and %d validation images, %d classes",
        data.n_train,
        data.n_valid,
        len(data.labels),
    )
    return data


def write_plan(run_dir: Path) -> bool:
    """The run's plan.json (its expected wall time; summary.json then sets the actual time
    beside it), from the calibrations `automl job plan` measured on this machine: no batch
    is run again. Nothing is done (no process started) before a first `automl job plan`,
    and the job runs without a plan when one of its models was never calibrated here or
    the plan fails. engine/plan runs as its own process, as trials do: the engine imports
    it nowhere (it imports the training code, which imports this package)."""
    import subprocess
    import sys

    from automl import schemas
    from automl.engine.registry import automl_home

    if not (automl_home() / PLAN_CALIBRATIONS).is_file():
        return False
    command = [sys.executable, "-m", PLAN_MODULE, str(Path(run_dir).resolve())]
    try:
        done = subprocess.run(  # stdout is the job's result (-o json): never the plan's
            command, timeout=schemas.limit(PLAN_LIMIT), check=False, stdout=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("no plan.json: %s", error)
        return False
    if done.returncode == PLAN_NOT_CALIBRATED:
        logger.info("no plan.json: run 'automl job plan' first to time this job's models here")
    return done.returncode == 0


def _load_prepared_data(run_dir: Path):
    from automl.engine.data import load_prepared_data

    return load_prepared_data(run_dir)


def _standby_trial():
    """The first trial's process, started now so its imports (torch: seconds) overlap the
    job's validation and data preparation; closed unused if the job never gets that far.

    Only where the first slot is known before the job is read: a machine without GPUs,
    whose one slot (max_concurrent_trials 1, the default) gets every core. Elsewhere the
    controller starts standbys for the trials after the first.
    """
    from automl.engine.sweep.standby import StandbyPool
    from automl.engine.trials import TRIAL_MODULE, cpu_threads_per_slot, slot_variables
    from automl.engine.utils.gpus import cuda_may_be_present

    pool = StandbyPool(TRIAL_MODULE)
    if not cuda_may_be_present():
        pool.prestart(slot_variables("", cpu_threads_per_slot(1)))
    return pool


def _run_controller(
    job,
    run_dir,
    data,
    on_event,
    storage_url,
    gpus,
    *,
    resume: bool,
    standby=None,
    tracking_uri=None,
) -> dict:
    from automl.engine.sweep import run_job

    if storage_url and not resume:
        from automl.engine.trials.storage_url import redact_url

        # Redacted: credentials never reach a run file (resume then asks for --storage).
        source = json.loads((run_dir / SOURCE_FILE).read_text(encoding="utf-8"))
        write_json_atomic(run_dir / SOURCE_FILE, {**source, "storage_url": redact_url(storage_url)})
    write_controller_pid(run_dir)
    try:
        return run_job(
            job,
            run_dir,
            data,
            on_event=on_event,
            storage_url=storage_url,
            resume=resume,
            gpus=gpus,
            standby=standby,
            tracking_uri=tracking_uri,
        )
    finally:
        clear_controller_pid(run_dir)


def _write_failed_summary(job, run_dir: Path, error: AutomlError) -> None:
    """The job record of a job that failed before its first trial (its data)."""
    from automl.engine.sweep.summary import JobHeader, build_summary, write_summary

    header = JobHeader(
        name=job.name,
        task=job.task,
        mode=job.mode,
        primary_metric=job.primary_metric,
        started_at=utc_now(),
    )
    summary = build_summary(
        header, [], "failed", run_dir=run_dir, error=str(error), finished_at=utc_now()
    )
    write_summary(run_dir, summary)
