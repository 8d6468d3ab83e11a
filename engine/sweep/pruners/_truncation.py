"""Truncation selection policy: stop the lowest X % of trials at each evaluation point."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.engine.errors import ConfigError
from automl.engine.sweep.pruners._base import (
    PRUNERS,
    IntervalPruner,
    reported_values,
    require_keys,
)


class TruncationSelectionPruner(IntervalPruner):
    """Azure's TruncationSelectionPolicy (maximize): at evaluation point n, the trials that
    reported an n-th value are ranked by it; the lowest floor(count * percentage / 100) are
    stopped (ties broken by trial number, the older trial ranking lower). With
    `exclude_finished_jobs`, finished trials are left out of the ranking.
    """

    def __init__(
        self,
        truncation_percentage: int,
        *,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
        exclude_finished_jobs: bool = False,
    ) -> None:
        super().__init__(evaluation_interval, delay_evaluation)
        if not 1 <= int(truncation_percentage) <= 99:
            raise ConfigError(
                "$.sweep.early_termination.truncation_percentage: must be an integer in "
                f"1..99, got {truncation_percentage!r}",
                hint="e.g. truncation_percentage: 20",
            )
        self.truncation_percentage = int(truncation_percentage)
        self.exclude_finished_jobs = bool(exclude_finished_jobs)

    def kwargs(self) -> dict[str, Any]:
        return {
            **super().kwargs(),
            "truncation_percentage": self.truncation_percentage,
            "exclude_finished_jobs": self.exclude_finished_jobs,
        }

    def should_stop(self, study: optuna.Study, trial: FrozenTrial, values: list[float]) -> bool:
        interval = len(values)
        ranked = sorted(
            (reported_values(study, t)[interval - 1], t.number)
            for t in self._ranked_trials(study, trial)
            if len(t.intermediate_values) >= interval
        )
        n_stopped = math.floor(len(ranked) * self.truncation_percentage / 100)
        return (values[-1], trial.number) in ranked[:n_stopped]

    def _ranked_trials(self, study: optuna.Study, trial: FrozenTrial) -> list[FrozenTrial]:
        states = (TrialState.RUNNING,)
        if not self.exclude_finished_jobs:
            states += (TrialState.COMPLETE, TrialState.PRUNED)
        others = study.get_trials(deepcopy=False, states=states)
        return [t for t in others if t.number != trial.number] + [trial]


@PRUNERS.register("truncation_selection")
def build_truncation_selection_pruner(settings: Mapping[str, Any]) -> TruncationSelectionPruner:
    require_keys(settings, "truncation_selection", "truncation_percentage")
    return TruncationSelectionPruner(
        settings["truncation_percentage"],
        evaluation_interval=settings.get("evaluation_interval", 1),
        delay_evaluation=settings.get("delay_evaluation", 0),
        exclude_finished_jobs=settings.get("exclude_finished_jobs", False),
    )
