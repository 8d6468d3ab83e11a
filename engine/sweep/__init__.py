"""Sweeps: search spaces, samplers, early termination, AutoMode, the job controller.

`run_job` is the one entry point: it runs a single trial, an AutoMode sweep or a manual
sweep of a loaded job, and returns the final summary. The controller's parts: plan.py
(what to run), slots.py (where), session.py (the job's study and record), launch.py
(trial processes), monitor.py (running trials), outcome.py (finished ones), storage.py
(the only user of Optuna's internals), summary.py and plots.py (the job record).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.engine.sweep.controller import run_job
    from automl.engine.sweep.space import SearchSpace

__all__ = ["SearchSpace", "run_job"]
_EXPORTS = {
    "run_job": "automl.engine.sweep.controller",
    "SearchSpace": "automl.engine.sweep.space",
}


def __getattr__(name: str) -> Any:
    """Exports load on first use: a submodule (the standby trial process) then imports
    without optuna and the controller."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
