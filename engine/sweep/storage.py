"""Where a sweep's study lives, and the trial outcomes recorded in it.

Default: an Optuna JournalStorage file (`run_dir/study.journal`): append-only, safe when
the controller is killed, and safe on NFS. `storage_url` (anything with "://", e.g.
postgresql://...) selects an RDB so that later work can spread a sweep over machines; any
other string is a journal file path. Every fact the summary shows about a finished trial is
stored in the study (user attributes), so a resumed job rebuilds its record from it alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.engine.errors import AutomlError
from automl.engine.sweep.samplers._grid import INTERRUPTED_ATTR

logger = logging.getLogger("automl.sweep")

STUDY_FILE = "study.journal"
OUTCOME_ATTR = "automl_outcome"
PID_ATTR = "automl_pid"
_OPTUNA_STATES = {
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "timeout": TrialState.FAIL,
    "canceled": TrialState.FAIL,
}


def storage_reference(run_dir: Path, storage_url: str | None) -> str:
    """What a trial spec names as `study.storage`: a journal path or an RDB URL."""
    return storage_url or str(Path(run_dir).resolve() / STUDY_FILE)


def make_storage(reference: str) -> optuna.storages.BaseStorage:
    """A journal file path -> JournalStorage; a URL with '://' -> RDBStorage."""
    if "://" in reference:
        return optuna.storages.RDBStorage(reference)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(reference))


def open_study(
    reference: str,
    study_name: str,
    *,
    resume: bool,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """Create the job's study, or reopen it with `resume`."""
    # The controller logs one line per trial itself; Optuna's own INFO lines would double it.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(reference)
    if resume:
        try:
            return optuna.load_study(
                study_name=study_name, storage=storage, sampler=sampler, pruner=pruner
            )
        except KeyError:
            raise AutomlError(
                f"no study named {study_name!r} in {reference}: nothing to resume",
                hint="start the job with 'automl job create' instead",
            ) from None
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise AutomlError(
            f"a study named {study_name!r} already exists in {reference}",
            hint="resume it with 'automl job resume', or give the job another name",
        ) from None
    return study


def record_outcome(study: optuna.Study, trial_id: int, outcome: dict[str, Any]) -> None:
    """Store a finished trial's outcome and tell Optuna its final state and score."""
    study._storage.set_trial_user_attr(trial_id, OUTCOME_ATTR, outcome)
    if outcome.get("interrupted"):
        study._storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)
    state = _OPTUNA_STATES[outcome["state"]]
    number = study._storage.get_trial_number_from_id(trial_id)
    values = outcome["score"] if state == TrialState.COMPLETE else None
    study.tell(number, values, state=state, skip_if_finished=True)


def counts_against_budget(trial: FrozenTrial) -> bool:
    """Finished trials use the budget, except those interrupted by a stopped controller."""
    if trial.state in (TrialState.RUNNING, TrialState.WAITING):
        return False
    return not trial.user_attrs.get(INTERRUPTED_ATTR, False)


def running_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
