"""Watching running trials: their progress (status.json, as events) and each trial's
limits: `trial_timeout_minutes`, a multi-node group that must form in time, and the
early-termination policy, applied here too so that a trial that does not stop itself is
stopped."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from automl.engine.sweep import groups, storage
from automl.engine.sweep.launch import RunningTrial
from automl.engine.sweep.plan import SweepPlan
from automl.engine.trials import TrialStatus

STATUS_POLL_S = 0.25  # how often status.json and the study are read per running trial
PRUNE_GRACE_S = 5.0  # time a trial gets to stop itself once the policy says so
PROGRESS_KEYS = (
    "epoch",
    "n_epochs",
    "step",
    "n_steps",
    "train_loss",
    "last_score",
    "best_score",
    "evaluated_epoch",
    "eta_s",
)


class TrialMonitor:
    """Checks the running trials of one controller, each at most every STATUS_POLL_S."""

    def __init__(
        self,
        study: optuna.Study,
        plan: SweepPlan,
        emit: Callable[[dict], None],
    ) -> None:
        self.study = study
        self.plan = plan
        self.pruner = study.pruner
        self.emit = emit

    def check(self, running: RunningTrial, now: float) -> None:
        """Progress and limits of one running trial, when its next check is due."""
        if now < running.next_check:
            return
        running.next_check = now + STATUS_POLL_S
        self.check_progress(running)
        self.check_limits(running, now)

    def check_progress(self, running: RunningTrial) -> None:
        """A `trial_progress` event when status.json changed."""
        status = TrialStatus.read(running.trial_dir)
        if status is None or status.updated_at == running.progress.updated_at:
            return
        running.progress = status
        event = {"type": "trial_progress", "number": running.number}
        event.update({key: getattr(status, key) for key in PROGRESS_KEYS})
        self.emit(event)

    def check_limits(self, running: RunningTrial, now: float) -> None:
        if running.stop_state is not None:
            return
        if running.member:  # the leader applies the limits; a member follows the study
            if storage.is_finished(self.study, running.trial_id):
                running.stop("canceled", "the group's leader finished the trial")
            return
        if running.group_deadline is not None and now >= running.group_deadline:
            self._check_group_formed(running)
        if running.deadline is not None and now >= running.deadline:
            minutes = self.plan.trial_timeout_minutes
            running.stop("timeout", f"limits.trial_timeout_minutes ({minutes})")
        elif self.plan.early_termination:
            self._check_pruning(running, now)

    def _check_group_formed(self, running: RunningTrial) -> None:
        running.group_deadline = None
        n_nodes = self.plan.n_nodes
        joined = groups.members_joined(self.study, running.trial_id, n_nodes)
        if joined < n_nodes - 1:
            message = groups.group_timeout_message(
                running.number, joined, n_nodes, groups.group_wait_s()
            )
            running.stop("failed", message)

    def _check_pruning(self, running: RunningTrial, now: float) -> None:
        """The policy also runs here, so a trial that does not stop itself is stopped."""
        frozen = storage.frozen_trial(self.study, running.trial_id)
        if len(frozen.intermediate_values) > running.n_reports:
            running.n_reports = len(frozen.intermediate_values)
            if running.prune_deadline is None and self.pruner.prune(self.study, frozen):
                running.prune_deadline = now + PRUNE_GRACE_S
        if running.prune_deadline is not None and now >= running.prune_deadline:
            running.stop("pruned", None)
