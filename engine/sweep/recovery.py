"""What `automl job resume` does with the trials a stopped controller left behind.

A trial RUNNING in the study when its controller died (processes.left_by_dead_controller):
- its left-over processes are stopped first (processes.stop_leftovers);
- finished meanwhile (result.json complete or pruned): that outcome is recorded;
- with a checkpoint (RESUMABLE_CHECKPOINTS: ours, or Ultralytics' for YOLO): it runs again
  as the same trial, same number and parameters, with `resume: true` in its spec, so it
  continues at the epoch after its checkpoint and its metrics.jsonl goes on;
- otherwise: recorded failed and interrupted; its place in max_trials goes to a new trial.

A trial the storage has already finished cannot run again under its number: one failed as
lost by a worker's heartbeat, or canceled. If it left a checkpoint, its parameters are
enqueued as a new trial whose CONTINUES_ATTR names it; that trial starts from a copy of the
old one's checkpoints, metrics and best model (`adopt_predecessor`), and the summary shows
the link (`continues`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.engine.sweep.attrs import CONTINUES_ATTR, INTERRUPTED_ATTR, PID_ATTR
from automl.engine.sweep.heartbeat import heartbeat_enabled
from automl.engine.sweep.processes import left_by_dead_controller, stop_leftovers
from automl.engine.sweep.storage import record_outcome, running_trials, trial_id
from automl.engine.trials import TrialResult
from automl.engine.trials.result import read_result_or_error

logger = logging.getLogger("automl.sweep")

# What a trial continues from (engine/training/checkpoints.py; _yolo.ultralytics_last)
RESUMABLE_CHECKPOINTS = ("checkpoints/last.pt", "checkpoints/ultralytics/weights/last.pt")
CARRIED_OVER = ("checkpoints", "outputs", "metrics.jsonl")  # what a continuation copies


def has_checkpoint(trial_dir: Path) -> bool:
    return any((Path(trial_dir) / name).is_file() for name in RESUMABLE_CHECKPOINTS)


def recover_trials(study: optuna.Study, run_dir: Path, *, can_resume: bool) -> list[FrozenTrial]:
    """Settle the trials left RUNNING by stopped controllers (module doc); return those
    that run again from their checkpoint (empty when `can_resume` is False)."""
    heartbeats = heartbeat_enabled(study)
    left = [
        trial
        for trial in running_trials(study)
        if left_by_dead_controller(trial.user_attrs.get(PID_ATTR) or {}, heartbeats)
    ]
    records = [trial.user_attrs.get(PID_ATTR) or {} for trial in left]
    stop_leftovers({record.get("controller") for record in records} - {None}, records)
    return [trial for trial in left if _settle(study, Path(run_dir), trial, can_resume)]


def _settle(study: optuna.Study, run_dir: Path, trial: FrozenTrial, can_resume: bool) -> bool:
    """Record the outcome of one left trial; True when it is to continue instead."""
    trial_dir = run_dir / "trials" / str(trial.number)
    result, _ = read_result_or_error(trial_dir)
    if result is not None and result.is_scored:
        record_outcome(study, trial_id(trial), result.judged(result.state, None, interrupted=False))
        logger.info("trial %d finished while the job was stopped: kept", trial.number)
        return False
    if can_resume and has_checkpoint(trial_dir):
        logger.info("trial %d was interrupted: it continues from its checkpoint", trial.number)
        return True
    outcome = TrialResult.failure(
        "interrupted: the controller stopped while it ran", interrupted=True
    )
    record_outcome(study, trial_id(trial), outcome)
    logger.info("trial %d was interrupted before its first checkpoint: failed", trial.number)
    return False


def enqueue_continuations(
    study: optuna.Study, run_dir: Path, numbers: Iterable[int] | None = None
) -> list[int]:
    """Enqueue a continuation of each finished, interrupted trial (of `numbers`, or all)
    that left a checkpoint and has none yet; return the numbers continued."""
    trials = study.get_trials(deepcopy=False)
    continued = {trial.user_attrs.get(CONTINUES_ATTR) for trial in trials}
    wanted = None if numbers is None else set(numbers)
    enqueued = []
    for trial in trials:
        if wanted is not None and trial.number not in wanted:
            continue
        if trial.number in continued or not _continuable(trial, Path(run_dir)):
            continue
        study.enqueue_trial(trial.params, user_attrs={CONTINUES_ATTR: trial.number})
        logger.info(
            "trial %d stopped after a checkpoint: its parameters run again as a new trial "
            "that continues from it",
            trial.number,
        )
        enqueued.append(trial.number)
    return enqueued


def _continuable(trial: FrozenTrial, run_dir: Path) -> bool:
    return (
        trial.state == TrialState.FAIL
        and bool(trial.user_attrs.get(INTERRUPTED_ATTR))
        and has_checkpoint(run_dir / "trials" / str(trial.number))
    )


def adopt_predecessor(run_dir: Path, trial: optuna.trial.Trial) -> bool:
    """For a trial that continues an earlier one: copy what that one left into this
    trial's folder; True when the trial is to resume from it."""
    predecessor = trial.user_attrs.get(CONTINUES_ATTR)
    if predecessor is None:
        return False
    source = Path(run_dir) / "trials" / str(predecessor)
    target = Path(run_dir) / "trials" / str(trial.number)
    for name in CARRIED_OVER:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)
        elif (source / name).is_file():
            shutil.copy2(source / name, target / name)
    logger.info("trial %d continues trial %d from its checkpoint", trial.number, predecessor)
    return True
