"""Run directories: where a job's record lives (`runs/<name>/`), and how to find it again."""

from automl.engine.runs.rundir import (
    RUNS_ROOT_DEFAULT,
    cancel_run,
    create_run_dir,
    find_run_dir,
    list_runs,
    read_summary,
)
from automl.engine.runs.submit import resume_job, submit_job

__all__ = [
    "RUNS_ROOT_DEFAULT",
    "cancel_run",
    "create_run_dir",
    "find_run_dir",
    "list_runs",
    "read_summary",
    "resume_job",
    "submit_job",
]
