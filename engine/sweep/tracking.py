"""The job's MLflow run as the controller keeps it (engine/tracking/ does the logging).

The controller that creates the job opens the run and stores its reference with the study
(TRACKING_ATTR); a resumed job and the workers of a sweep across machines read it there
and log their trials into the same run, with the URI given to them (--tracking-uri,
MLFLOW_TRACKING_URI) or, when it holds no secret, the one the study records.
"""

from __future__ import annotations

import logging

from automl.engine.sweep.attrs import TRACKING_ATTR
from automl.engine.trials.storage_url import MASK

logger = logging.getLogger("automl.sweep")


def open_tracking(session, uri: str | None):
    """The job's `JobTracker` once its run is open or attached, else None (tracking off)."""
    from automl.engine.tracking import open_job_tracker, resolve_tracking_uri

    record = session.study.user_attrs.get(TRACKING_ATTR) if _continues(session) else None
    uri = resolve_tracking_uri(uri) or _recorded_uri(record)
    tracker = open_job_tracker(uri)
    if tracker is None:
        return None
    if record:
        tracker.attach(record)
    elif session.join:
        logger.warning(
            "job %s was created without tracking: this worker tracks nothing", session.name
        )
        return None
    else:
        tracker.start(_experiment(session), session.name, _job_params(session), _tags(session))
        if tracker.record() is not None:
            session.study.set_user_attr(TRACKING_ATTR, tracker.record())
    return tracker if tracker.active else None


def _continues(session) -> bool:
    return bool(session.resume or session.join)


def _recorded_uri(record: dict | None) -> str | None:
    uri = (record or {}).get("uri")
    return uri if uri and MASK not in uri else None


def _experiment(session) -> str | None:
    return session.job.resolved.get("experiment_name")


def _job_params(session) -> dict:
    plan = session.plan
    return {
        "task": session.job.task,
        "mode": plan.mode,
        "primary_metric": session.metric,
        "max_trials": plan.max_trials,
        "max_concurrent_trials": plan.max_concurrent,
        **plan.fixed_params,
    }


def _tags(session) -> dict:
    return {"automl.job": session.name, "automl.run_dir": str(session.run_dir.resolve())}
