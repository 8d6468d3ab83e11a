"""`grid` sampling: the exact cartesian product of choice values, in order, no repeats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automl.engine.sweep.attrs import CONTINUES_ATTR, GRID_ID_ATTR, INTERRUPTED_ATTR
from automl.engine.sweep.samplers._base import register_sampler


@register_sampler("grid")
def build_grid_sampler(settings: Mapping[str, Any], space):
    """A `GridPointSampler` over `space.grid_points()` (raises ConfigError off `choice`)."""
    return make_grid_point_sampler(space.grid_points())


def make_grid_point_sampler(points: list[dict]):
    """Build the sampler class lazily so importing this module does not import Optuna."""
    import optuna

    from automl.engine.sweep import storage

    class GridPointSampler(optuna.samplers.BaseSampler):
        """Gives each new trial the first grid point no live or finished trial holds.

        Unlike Optuna's GridSampler it handles sub-spaces with different keys, walks the
        points in order (reproducible leaderboards) and frees the point of a trial that was
        interrupted by a killed controller, so a resumed job runs it again (a trial that
        continues an interrupted one takes that one's point).
        """

        def __init__(self) -> None:
            self.points = points

        def infer_relative_search_space(self, study, trial) -> dict:
            return {}

        def sample_relative(self, study, trial, search_space) -> dict:
            return {}

        def before_trial(self, study, trial) -> None:
            if GRID_ID_ATTR in trial.system_attrs:
                return
            grid_id = self.predecessor_point(study, trial)
            if grid_id is None:
                free = self.free_point_ids(study)
                # max_trials and is_exhausted stop the controller first; past the end we
                # repeat the last point rather than crash a concurrent ask.
                grid_id = free[0] if free else len(self.points) - 1
            storage.set_trial_system_attr(study, storage.trial_id(trial), GRID_ID_ATTR, grid_id)

        def predecessor_point(self, study, trial) -> int | None:
            predecessor = trial.user_attrs.get(CONTINUES_ATTR)
            if predecessor is None:
                return None
            trials = study.get_trials(deepcopy=False)
            return next(
                (t.system_attrs.get(GRID_ID_ATTR) for t in trials if t.number == predecessor),
                None,
            )

        def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
            grid_id = storage.trial_system_attrs(study, storage.trial_id(trial))[GRID_ID_ATTR]
            return self.points[grid_id]["optuna"][param_name]

        def free_point_ids(self, study) -> list[int]:
            taken = {
                t.system_attrs[GRID_ID_ATTR]
                for t in study.get_trials(deepcopy=False)
                if GRID_ID_ATTR in t.system_attrs and not t.user_attrs.get(INTERRUPTED_ATTR)
            }
            return [i for i in range(len(self.points)) if i not in taken]

        def is_exhausted(self, study) -> bool:
            return not self.free_point_ids(study)

    return GridPointSampler()
