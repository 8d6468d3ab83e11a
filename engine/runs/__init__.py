"""Run directories: where a job's record lives (`runs/[<experiment>/]<name>/`), the index of
runs that finds it again from any folder, and the checks made before a job's data is read."""

from automl.engine.registry.run_index import RunIndex
from automl.engine.runs.rundir import (
    RUNS_ROOT_DEFAULT,
    cancel_run,
    create_run_dir,
    find_run_dir,
    list_runs,
    read_summary,
)
from automl.engine.runs.submit import resume_job, submit_job
from automl.engine.runs.weights_check import require_weights, weights_warnings

__all__ = [
    "RUNS_ROOT_DEFAULT",
    "RunIndex",
    "cancel_run",
    "create_run_dir",
    "find_run_dir",
    "list_runs",
    "read_summary",
    "require_weights",
    "resume_job",
    "submit_job",
    "weights_warnings",
]
