"""Median stopping policy: stop a trial whose best is below the median of running averages."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from automl.engine.sweep.pruners._base import PRUNERS, IntervalPruner, other_values


class MedianStoppingPruner(IntervalPruner):
    """Azure's MedianStoppingPolicy (maximize): at evaluation point n, each other trial's
    running average is the mean of its first n values (or all it has); a trial whose best
    value so far is below the median of those averages is stopped. Alone, nothing stops.
    """

    def should_stop(self, study, trial, values: list[float]) -> bool:
        others = other_values(study, trial)
        if not others:
            return False
        averages = [statistics.fmean(other[: len(values)]) for other in others]
        return max(values) < statistics.median(averages)


@PRUNERS.register("median_stopping")
def build_median_stopping_pruner(settings: Mapping[str, Any]) -> MedianStoppingPruner:
    return MedianStoppingPruner(
        evaluation_interval=settings.get("evaluation_interval", 1),
        delay_evaluation=settings.get("delay_evaluation", 0),
    )
