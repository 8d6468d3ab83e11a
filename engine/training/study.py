"""Reporting a trial's scores to its Optuna study, so the study's pruner can stop it.

The trial only reports; the sweep controller creates trials and tells their outcome. A
pruner is not stored in Optuna storage, so the spec names it (`TrialSpec.study`, a
`StudyRef`): `study.pruner` =
{"class": "optuna.pruners.ThresholdPruner", "kwargs": {...}} (classes from `optuna.` or
`automl.` modules only); without it nothing is pruned.
"""

from __future__ import annotations

import importlib

from automl.engine.errors import TrialError
from automl.engine.trials import StudyRef
from automl.engine.trials.storage_url import is_url, sqlalchemy_url, trial_storage

ALLOWED_PRUNER_MODULES = ("optuna.", "automl.")


def open_storage(storage: str):
    """A journal file path (JournalFileBackend) or an RDB URL (contains "://").

    A spec holds RDB URLs redacted; the real one comes from the environment
    (AUTOML_STORAGE_URL, set by the controller), see engine/trials/storage_url.py.
    """
    import optuna

    if is_url(storage):
        return optuna.storages.RDBStorage(sqlalchemy_url(trial_storage(storage)))
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(storage))


def build_pruner(config: dict | None):
    """The pruner named by `config`, or optuna's NopPruner."""
    import optuna

    if not config:
        return optuna.pruners.NopPruner()
    dotted = config.get("class", "")
    module_name, _, class_name = dotted.replace(":", ".").rpartition(".")
    if not module_name.startswith(ALLOWED_PRUNER_MODULES):
        raise TrialError(
            f"spec.json study.pruner.class={dotted!r}: only optuna.* and automl.* pruners load",
        )
    pruner_class = getattr(importlib.import_module(module_name), class_name)
    return pruner_class(**config.get("kwargs", {}))


class StudyReporter:
    """`trial.report(score, step=epoch)` then `trial.should_prune()` on the spec's study."""

    def __init__(self, study: StudyRef) -> None:
        import optuna

        loaded = optuna.load_study(
            study_name=study.study_name,
            storage=open_storage(study.storage),
            pruner=build_pruner(study.pruner),
        )
        self.trial = optuna.trial.Trial(loaded, study.trial_id)

    def report(self, score: float, epoch: int) -> bool:
        """Report the score of `epoch`; return True when the trial should be pruned."""
        self.trial.report(score, step=epoch)
        return self.trial.should_prune()
