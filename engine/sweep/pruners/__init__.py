"""Early-termination policies as Optuna pruners, with Azure's exact rules (§5.3)."""

from automl.engine.sweep.pruners._bandit import BanditPruner
from automl.engine.sweep.pruners._base import PRUNERS, IntervalPruner, build_pruner, pruner_spec
from automl.engine.sweep.pruners._median import MedianStoppingPruner
from automl.engine.sweep.pruners._truncation import TruncationSelectionPruner

__all__ = [
    "PRUNERS",
    "BanditPruner",
    "IntervalPruner",
    "MedianStoppingPruner",
    "TruncationSelectionPruner",
    "build_pruner",
    "pruner_spec",
]
