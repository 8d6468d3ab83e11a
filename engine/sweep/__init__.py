"""Sweeps: search spaces, samplers, early termination, AutoMode, the job controller.

`run_job` is the one entry point: it runs a single trial, an AutoMode sweep or a manual
sweep of a loaded job, and returns the final summary.
"""

from automl.engine.sweep.controller import TRIAL_MODULE, run_job
from automl.engine.sweep.space import SearchSpace

__all__ = ["TRIAL_MODULE", "SearchSpace", "run_job"]
