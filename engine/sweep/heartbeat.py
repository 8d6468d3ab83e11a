"""Heartbeats of running trials, and failing the trials of workers that stopped beating.

Optuna's RDBStorage keeps one heartbeat row per running trial and lists the trials whose
row is older than the grace period (storage.stale_trials); `optuna.storages.
fail_stale_trials` fails them. We use the same storage API, but the *worker* (the sweep
controller) beats for its trials, not the trial process: a worker killed with -9 leaves
its trial processes orphaned, and the trial must be given up with the worker. Before
failing a lost trial we store its outcome (why, where it ran) marked as interrupted, so
its place in `max_trials` goes to the next trial of any worker.

Intervals come from AUTOML_HEARTBEAT_INTERVAL_S (default 60) and AUTOML_HEARTBEAT_GRACE_S
(default 3 intervals); the journal file storage has no heartbeat (one machine).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import optuna

from automl.engine.errors import ConfigError
from automl.engine.sweep.attrs import PID_ATTR
from automl.engine.sweep.storage import (
    fail_lost_trial,
    frozen_trial,
    grace_period,
    heartbeat_interval,
    record_heartbeat,
    stale_trials,
    trial_number,
)
from automl.engine.trials import TrialResult

logger = logging.getLogger("automl.sweep")

INTERVAL_ENV = "AUTOML_HEARTBEAT_INTERVAL_S"
GRACE_ENV = "AUTOML_HEARTBEAT_GRACE_S"
DEFAULT_INTERVAL_S = 60


@dataclass(frozen=True)
class HeartbeatSettings:
    interval_s: int
    grace_s: int


def heartbeat_settings() -> HeartbeatSettings:
    """Read the intervals from the environment (whole seconds, as Optuna takes them)."""
    interval = _positive_int(INTERVAL_ENV, DEFAULT_INTERVAL_S)
    grace = _positive_int(GRACE_ENV, 3 * interval)
    if grace <= interval:
        raise ConfigError(
            f"{GRACE_ENV}={grace} must be larger than {INTERVAL_ENV}={interval}: a trial "
            "would be failed between two beats of a healthy worker",
            issues=[f"set {GRACE_ENV} to at least {2 * interval}"],
        )
    return HeartbeatSettings(interval, grace)


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"environment {name}={raw!r}: expected whole seconds >= 1",
            issues=[f"unset {name} or set it to e.g. {default}"],
        )
    return value


def heartbeat_enabled(study: optuna.Study) -> bool:
    return heartbeat_interval(study) is not None


class HeartbeatKeeper:
    """Beats for this worker's running trials and fails lost ones, once per interval."""

    def __init__(self, study: optuna.Study, host: str) -> None:
        self.study = study
        self.host = host
        self.interval_s = heartbeat_interval(study)
        self.enabled = self.interval_s is not None
        self.next_beat = 0.0

    def beat_now(self, trial_id: int) -> None:
        """One beat for a trial just asked (a trial without any beat is never stale)."""
        if self.enabled:
            record_heartbeat(self.study, trial_id)

    def tick(self, trial_ids: list[int]) -> list[int]:
        """Beat when due; return the numbers of trials (of any worker) failed as lost."""
        if not self.enabled or time.monotonic() < self.next_beat:
            return []
        self.next_beat = time.monotonic() + self.interval_s / 2.0
        for trial_id in trial_ids:
            record_heartbeat(self.study, trial_id)
        return fail_lost_trials(self.study)


def fail_lost_trials(study: optuna.Study) -> list[int]:
    """Fail running trials whose worker stopped beating; return their numbers."""
    if not heartbeat_enabled(study):
        return []
    grace = grace_period(study)
    return [
        trial_number(study, trial_id)
        for trial_id in stale_trials(study)
        if _fail_lost(study, trial_id, grace)
    ]


def _fail_lost(study: optuna.Study, trial_id: int, grace: int | None) -> bool:
    trial = frozen_trial(study, trial_id)
    where = trial.user_attrs.get(PID_ATTR) or {}
    error = (
        f"worker lost: no heartbeat for more than {grace} s from host "
        f"{where.get('host', '?')} (trial pid {where.get('pid', '?')}); the trial was failed "
        "and its place in max_trials given to the next trial"
    )
    changed = fail_lost_trial(study, trial_id, TrialResult.failure(error, interrupted=True))
    if changed:
        logger.warning("trial %d failed: %s", trial.number, error)
    return changed
