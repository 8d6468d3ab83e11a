"""Job files: load, validate, check and resolve them (load -> validate -> checks -> defaults).

Public API: `load_job(path, overrides) -> Job` and `resolve_trial_parameters(task, params)`.
Each stage is its own module: `load`, `overrides`, `normalize`, `validate`, `checks`,
`defaults`, `resolve`; `issues` formats problems as `job.yml:LINE: $.path: message`.
"""

from automl.engine.config.checks import CHECKS
from automl.engine.config.render import render_job_yaml, rendered_job
from automl.engine.config.resolve import Job, job_mode, load_job, resolve_trial_parameters

__all__ = [
    "CHECKS",
    "Job",
    "job_mode",
    "load_job",
    "render_job_yaml",
    "rendered_job",
    "resolve_trial_parameters",
]
