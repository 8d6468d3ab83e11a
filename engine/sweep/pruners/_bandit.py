"""Bandit policy: stop a trial that is not within a slack of the best trial."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from automl.engine.errors import ConfigError
from automl.engine.sweep.pruners._base import PRUNERS, IntervalPruner, other_values


class BanditPruner(IntervalPruner):
    """Azure's BanditPolicy (maximize): at an evaluation point, with B the best value any
    trial reported up to this interval, stop a trial whose best value so far is below
    B / (1 + slack_factor), or below B - slack_amount.

    Example: B = 0.8, slack_factor 0.2: trials below 0.8 / 1.2 = 0.667 are stopped. Other
    trials count only up to the same interval, so a young trial is not measured against a
    finished one's last epoch.
    """

    def __init__(
        self,
        *,
        slack_factor: float | None = None,
        slack_amount: float | None = None,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
    ) -> None:
        super().__init__(evaluation_interval, delay_evaluation)
        if (slack_factor is None) == (slack_amount is None):
            raise ConfigError(
                "$.sweep.early_termination: the bandit policy needs exactly one of "
                f"slack_factor and slack_amount, got slack_factor={slack_factor!r}, "
                f"slack_amount={slack_amount!r}",
                hint="e.g. slack_factor: 0.2",
            )
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount

    def kwargs(self) -> dict[str, Any]:
        slack = {"slack_factor": self.slack_factor, "slack_amount": self.slack_amount}
        return {**super().kwargs(), **slack}

    def threshold(self, best: float, *, maximize: bool = True) -> float:
        """The lowest value a trial may have at an evaluation point when the best is `best`.

        For a minimize goal, values arrive negated: "above B * (1 + slack)" becomes "below
        -B * (1 + slack)", i.e. best * (1 + slack) on the negated scale.
        """
        if self.slack_amount is not None:
            return best - self.slack_amount
        if maximize:
            return best / (1.0 + self.slack_factor)
        return best * (1.0 + self.slack_factor)

    def should_stop(self, study, trial, values: list[float]) -> bool:
        interval = len(values)
        mine = max(values)
        best = max([mine] + [max(other[:interval]) for other in other_values(study, trial)])
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        return mine < self.threshold(best, maximize=maximize)


@PRUNERS.register("bandit")
def build_bandit_pruner(settings: Mapping[str, Any]) -> BanditPruner:
    return BanditPruner(
        slack_factor=settings.get("slack_factor"),
        slack_amount=settings.get("slack_amount"),
        evaluation_interval=settings.get("evaluation_interval", 1),
        delay_evaluation=settings.get("delay_evaluation", 0),
    )
