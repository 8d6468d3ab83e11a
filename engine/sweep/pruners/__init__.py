"""Early-termination policies as Optuna pruners, with Azure's exact rules (§5.3), and
AutoMode's own Hyperband on epochs (multi-fidelity, engine/sweep/fidelity.py)."""

from automl.engine.sweep.pruners._bandit import BanditPruner
from automl.engine.sweep.pruners._base import PRUNERS, IntervalPruner, build_pruner, pruner_spec
from automl.engine.sweep.pruners._hyperband import FidelityPruner
from automl.engine.sweep.pruners._median import MedianStoppingPruner
from automl.engine.sweep.pruners._truncation import TruncationSelectionPruner

__all__ = [
    "PRUNERS",
    "BanditPruner",
    "FidelityPruner",
    "IntervalPruner",
    "MedianStoppingPruner",
    "TruncationSelectionPruner",
    "build_pruner",
    "pruner_spec",
]
