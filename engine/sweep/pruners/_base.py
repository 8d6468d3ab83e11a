"""What Azure's early-termination policies share (docs/azure-compatibility.md §5.3).

An interval is one reported evaluation of the primary metric (one evaluated epoch). A
policy is applied only at evaluation points: intervals that are multiples of
`evaluation_interval` (<= 0 counts as 1, as Azure's SDK defaults of 0 mean) and not before
`delay_evaluation`. Between evaluation points nothing is ever stopped.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.engine.errors import ConfigError
from automl.engine.utils.registry import Registry

PrunerBuilder = Callable[[Mapping[str, Any]], optuna.pruners.BasePruner]
PRUNERS: Registry[PrunerBuilder] = Registry("early termination policy")
_OTHER_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def build_pruner(early_termination: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    """The pruner for a job's `sweep.early_termination` (NopPruner when there is none)."""
    if not early_termination:
        return optuna.pruners.NopPruner()
    kind = str(early_termination.get("type", "")).lower()
    return PRUNERS.get(kind)(early_termination)


def pruner_spec(early_termination: Mapping[str, Any] | None) -> dict | None:
    """How a trial spec names the pruner: {"class": dotted name, "kwargs": {...}} or None.

    Optuna storage does not keep a pruner, so the trial runner rebuilds it from this
    (`automl.engine.training.study.build_pruner`).
    """
    pruner = build_pruner(early_termination)
    if not callable(getattr(pruner, "kwargs", None)):  # ours (IntervalPruner, FidelityPruner)
        return None
    return {
        "class": f"automl.engine.sweep.pruners.{type(pruner).__name__}",
        "kwargs": pruner.kwargs(),
    }


class IntervalPruner(optuna.pruners.BasePruner):
    """Base of the Azure policies: decides *when* to evaluate; subclasses decide *whether*.

    Values are compared as "higher is better" (scores are negated for a minimize goal), so
    subclasses implement the maximize rule only.
    """

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        self.evaluation_interval = max(1, int(evaluation_interval or 0))
        self.delay_evaluation = max(0, int(delay_evaluation or 0))

    def kwargs(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this pruner (in a trial process)."""
        return {
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
        }

    def is_evaluation_point(self, interval: int) -> bool:
        """True when the policy is applied after the `interval`-th report (1-based)."""
        return (
            interval >= 1
            and interval >= self.delay_evaluation
            and interval % self.evaluation_interval == 0
        )

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        values = reported_values(study, trial)
        if not self.is_evaluation_point(len(values)):
            return False
        return self.should_stop(study, trial, values)

    @abc.abstractmethod
    def should_stop(self, study: optuna.Study, trial: FrozenTrial, values: list[float]) -> bool:
        """The policy's rule at an evaluation point; `values` = the trial's reports so far."""


def other_values(study: optuna.Study, trial: FrozenTrial) -> list[list[float]]:
    """The reported values of every other live or finished trial that reported any."""
    others = [
        reported_values(study, other)
        for other in study.get_trials(deepcopy=False, states=_OTHER_STATES)
        if other.number != trial.number
    ]
    return [values for values in others if values]


def reported_values(study: optuna.Study, trial: FrozenTrial) -> list[float]:
    """A trial's intermediate values in report order, as "higher is better"."""
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
    return [sign * trial.intermediate_values[step] for step in sorted(trial.intermediate_values)]


def require_keys(settings: Mapping[str, Any], policy: str, *keys: str) -> None:
    missing = [key for key in keys if settings.get(key) is None]
    if missing:
        raise ConfigError(
            f"$.sweep.early_termination: the {policy} policy needs {', '.join(missing)}",
            hint=f"add {missing[0]}: to early_termination (docs/azure-compatibility.md §5.3)",
        )
