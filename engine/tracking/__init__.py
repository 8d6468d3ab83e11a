"""Experiment tracking: a job is an MLflow run, each trial a nested run; trials also write
TensorBoard event files.

Opt-in: `--tracking-uri URI` on `automl job create`/`resume`/`worker`, or the
`MLFLOW_TRACKING_URI` variable; `local` means the default store,
`sqlite:///$AUTOML_HOME/mlflow.db`. The job's `experiment_name` names the MLflow experiment
(default `automl`). The controller opens the job's run (`JobTracker`, in the study's
attributes for workers on other machines) and logs the summary, the sweep charts and the
best model (an MLflow pyfunc model with a signature); each trial opens its nested run from
its spec's `TrackingRef` (`TrialTracker`) and logs parameters, per-epoch metrics and its
plots. MLflow and TensorBoard are imported only here, inside functions: without them
tracking is off with one warning. A tracking failure (server down, bad URI) warns once and
turns tracking off for that process; it never fails the training.

This package imports no other engine package but `errors`-free helpers of its own: the
controller (engine/sweep) and the trial (engine/training) call it.
"""

from automl.engine.tracking._job import JobTracker, open_job_tracker
from automl.engine.tracking._settings import (
    INSTALL_HINT,
    LOCAL_STORE,
    TRACKING_URI_ENV,
    default_local_uri,
    resolve_tracking_uri,
)
from automl.engine.tracking._trial import TrialTracker, open_trial_tracker

__all__ = [
    "INSTALL_HINT",
    "LOCAL_STORE",
    "TRACKING_URI_ENV",
    "JobTracker",
    "TrialTracker",
    "default_local_uri",
    "open_job_tracker",
    "open_trial_tracker",
    "resolve_tracking_uri",
]
