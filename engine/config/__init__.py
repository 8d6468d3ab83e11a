"""Job files: load, validate, check and resolve them (load -> validate -> checks -> defaults).

Public API: `load_job(path, overrides) -> Job` and `resolve_trial_parameters(task, params)`.
Each stage is its own module: `load` (bounded read and YAML, see
`automl.engine.utils.yaml_load`), `pipeline` (the automl node of an Azure pipeline file),
`overrides`, `normalize`, `validate`, `checks` (with `checks_search`, `checks_data`,
`support`), `defaults`, `resolve`; `issues` formats problems as
`job.yml:LINE: $.path: message`; `render` prints the resolved job.
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
