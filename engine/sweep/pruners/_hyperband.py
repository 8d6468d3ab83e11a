"""Hyperband on epochs for multi-fidelity AutoMode (engine/sweep/fidelity.py): Optuna's
`HyperbandPruner` that never stops the final, to-completion run of the best configuration,
and that a trial process rebuilds from its spec (`kwargs`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from automl.engine.sweep.attrs import FINAL_ATTR
from automl.engine.sweep.pruners._base import PRUNERS


class FidelityPruner(optuna.pruners.HyperbandPruner):
    """Successive halving in brackets, the epoch as resource; a FINAL_ATTR trial runs on."""

    def __init__(self, min_resource: int = 1, max_resource: int = 10, reduction_factor: int = 3):
        super().__init__(
            min_resource=int(min_resource),
            max_resource=int(max_resource),
            reduction_factor=int(reduction_factor),
        )
        self._arguments = {
            "min_resource": int(min_resource),
            "max_resource": int(max_resource),
            "reduction_factor": int(reduction_factor),
        }

    def kwargs(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this pruner (in a trial process)."""
        return dict(self._arguments)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if trial.user_attrs.get(FINAL_ATTR):
            return False
        return super().prune(study, trial)


@PRUNERS.register("hyperband")
def build_fidelity_pruner(settings: Mapping[str, Any]) -> FidelityPruner:
    return FidelityPruner(
        min_resource=settings.get("min_resource", 1),
        max_resource=settings.get("max_resource", 10),
        reduction_factor=settings.get("reduction_factor", 3),
    )
