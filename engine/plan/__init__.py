"""The time and cost plan of a job before it runs (`automl job plan`): which trials it
runs (trials.py), a short calibration of each configuration on this machine
(calibrate.py), and the arithmetic of the whole job (estimate.py); api.py joins them.

Nothing in the engine imports this package: `job create` writes a run's plan.json by
running `python -m automl.engine.plan RUN_DIR` (PLAN_MODULE), as the controller runs
trials by module name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.engine.plan.api import plan_job, plan_run

__all__ = ["plan_job", "plan_run"]


def __getattr__(name: str) -> Any:
    """Exports load on first use (api imports the sweep's planner and, to calibrate, torch)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from automl.engine.plan import api

    return getattr(api, name)
