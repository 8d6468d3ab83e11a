"""A controller's session on its job's study: opening it (a new job, a resumed one, or a
worker joining), asking the next trial within the budget that every worker of the job
shares, heartbeats, and the job record (summary.json) it keeps.

The controller (controller.py) runs processes; everything it knows about the study goes
through here, and through storage.py for what touches Optuna's storage directly.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

from optuna.trial import TrialState

from automl.engine.sweep import fidelity, groups, recovery, storage
from automl.engine.sweep.attrs import (
    CONTINUES_ATTR,
    FINAL_ATTR,
    JOB_ATTR,
    OVERRIDES_ATTR,
    PARAMS_ATTR,
    PORTFOLIO_ATTR,
)
from automl.engine.sweep.heartbeat import HeartbeatKeeper
from automl.engine.sweep.plan import SweepPlan
from automl.engine.sweep.pruners import build_pruner, pruner_spec
from automl.engine.sweep.samplers import SweepSampler, build_sampler
from automl.engine.sweep.slots import TrialSlot, make_slots
from automl.engine.sweep.standby import StandbyPool
from automl.engine.sweep.summary import JobHeader, SummaryWriter, trial_rows, utc_now
from automl.engine.trials import TrialData, TrialResult
from automl.engine.trials.storage_url import redact_url
from automl.engine.utils.files import write_json_atomic, write_text_atomic
from automl.engine.utils.processes import ProcessIdentity

logger = logging.getLogger("automl.sweep")

AUTOMODE_PLAN_FILE = "automode_plan.json"
AUTOMODE_NOTES_FILE = "automode.md"  # each choice with its reason, as job-file lines


class SweepSession:
    """The job's study, slots and record as one controller sees them."""

    def __init__(
        self,
        job,
        run_dir: Path,
        data,
        plan: SweepPlan,
        *,
        gpus: list[int],
        storage_ref: str,
        resume: bool,
        join: bool,
        on_event,
        standby: StandbyPool,
    ) -> None:
        self.job, self.run_dir, self.data, self.plan = job, run_dir, data, plan
        self.storage_ref, self.resume, self.join, self.on_event = (
            storage_ref,
            resume,
            join,
            on_event,
        )
        self.name = job.name or run_dir.name
        self.metric = job.primary_metric
        self.started_epoch = time.time()
        self.started_at = utc_now()
        # A node of a multi-node group takes part in one trial at a time.
        self.slots = make_slots(1 if plan.n_nodes > 1 else plan.max_concurrent, gpus)
        self.identity = ProcessIdentity.current()  # marks every process it starts
        self.writer = SummaryWriter(run_dir, self._header())
        self.study = None  # an optuna.Study once open() has opened it
        self.sampler: SweepSampler | None = None
        self.heartbeat: HeartbeatKeeper | None = None
        self.pruner_spec: dict | None = None  # how a trial spec names the pruner
        self.resumable: list = []  # FrozenTrials to continue from a checkpoint
        self.resuming: set[int] = set()  # their numbers
        self.draws_sweep_charts = plan.mode != "single"  # one point charts nothing
        self.standby = standby
        self._size_standby_pool()

    def _header(self) -> JobHeader:
        return JobHeader(
            name=self.name,
            task=self.job.task,
            mode=self.plan.mode,
            primary_metric=self.metric,
            limits=self.plan.limits(),
            data={
                "train_images": self.data.n_train,
                "validation_images": self.data.n_valid,
                # identical to a training image: warned about, left out of scoring
                "leaked_validation_images": self.data.leaked_validation_images,
            },
            started_at=self.started_at,
        )

    def _size_standby_pool(self) -> None:
        self.standby.max_idle = max(self.standby.max_idle, len(self.slots))
        # standbys run plain single-process trials: not torchrun ranks, not group nodes
        self.standby_fits = self.plan.n_nodes == 1 and all(s.n_gpus <= 1 for s in self.slots)
        self.standby.retain([s.sticky_variables for s in self.slots] if self.standby_fits else [])

    @property
    def trial_data(self) -> TrialData:
        return TrialData(
            Path(self.data.train_manifest).resolve(),
            Path(self.data.valid_manifest).resolve(),
            tuple(self.data.labels),
        )

    def trial_dir(self, number: int) -> Path:
        return self.run_dir / "trials" / str(number)

    # ---- opening --------------------------------------------------------------------

    def open(self) -> None:
        """Create the job's study, or reopen it (resume, join), and announce the plan."""
        (self.run_dir / "trials").mkdir(parents=True, exist_ok=True)
        self.study = storage.open_study(
            self.storage_ref,
            self.name,
            resume=self.resume or self.join,
            sampler=build_sampler(self._sampling(), self.plan.space),
            pruner=build_pruner(self.plan.early_termination),
        )
        self.pruner_spec = pruner_spec(self.plan.early_termination)
        self.sampler = SweepSampler(self.study, self.plan.space)
        self.heartbeat = HeartbeatKeeper(self.study, socket.gethostname())
        if self.join:
            self._adopt_job_start()
        elif self.resume:
            self._recover_interrupted()
        else:
            self._record_job_start()
        self._announce_plan()

    def _sampling(self) -> dict:
        """A joining worker's seeded sampler must not repeat the first worker's draws."""
        seed = self.plan.sampling.get("seed")
        if not self.join or seed is None:
            return self.plan.sampling
        salt = zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())
        return {**self.plan.sampling, "seed": (int(seed) + salt) % 2**32}

    def _record_job_start(self) -> None:
        """Store the job with the study: workers on other machines read it."""
        record = {
            "run_dir": str(self.run_dir.resolve()),
            "started_at": self.started_epoch,
            "started_at_iso": self.started_at,
            "task": self.job.task,
            "mode": self.plan.mode,
            "primary_metric": self.metric,
            "limits": self.plan.limits(),
        }
        self.study.set_user_attr(JOB_ATTR, record)

    def _adopt_job_start(self) -> None:
        from dataclasses import replace

        record = storage.job_record(self.study)
        if record.get("started_at") is not None:
            self.started_epoch = float(record["started_at"])
            self.started_at = record.get("started_at_iso") or self.started_at
            self.writer.header = replace(self.writer.header, started_at=self.started_at)

    def _recover_interrupted(self) -> None:
        """Trials RUNNING in the study from a stopped controller (recovery.py): results
        adopted, interrupted ones continued from their checkpoint, the rest failed."""
        can_resume = self.plan.n_nodes == 1  # a group's nodes would have to meet again
        self.resumable = recovery.recover_trials(self.study, self.run_dir, can_resume=can_resume)
        self.resuming = {trial.number for trial in self.resumable}
        for trial in self.resumable:  # not stale before it is relaunched
            self.heartbeat.beat_now(storage.trial_id(trial))
        if can_resume:
            with storage.budget_lock(self.study, self.storage_ref):
                recovery.enqueue_continuations(self.study, self.run_dir)

    def _announce_plan(self) -> None:
        plan, plan_json = self.plan, None
        if plan.automode is not None:
            plan_json = plan.automode.to_json(plan.max_trials)
            if plan.fidelity is not None:
                plan_json["fidelity"] = plan.fidelity.to_json()
            write_json_atomic(self.run_dir / AUTOMODE_PLAN_FILE, plan_json)
            write_text_atomic(
                self.run_dir / AUTOMODE_NOTES_FILE, plan.automode.to_markdown(plan.max_trials)
            )
            for index, config in enumerate(plan.automode.portfolio):
                logger.info("automode plan %d: %s", index, config)
            for line in plan.fidelity.why if plan.fidelity is not None else ():
                logger.info("automode budget: %s", line)
        logger.info(
            "job %s: %s, up to %d trials, %d at a time on %s",
            self.name,
            plan.mode,
            plan.max_trials,
            plan.max_concurrent,
            ", ".join(s.cuda_visible_devices or "cpu" for s in self.slots),
        )
        self.emit(
            {
                "type": "plan",
                "mode": plan.mode,
                "max_trials": plan.max_trials,
                "max_concurrent_trials": plan.max_concurrent,
                "plan": plan_json["portfolio"] if plan_json else None,
            }
        )

    # ---- asking trials --------------------------------------------------------------

    def next_trial(self):
        """(trial, params) to run next: an interrupted trial to continue, else a new one
        within the budget; None when there is none."""
        if self.resumable:
            frozen = self.resumable.pop(0)
            trial = storage.trial_handle(self.study, frozen)
            return trial, dict(frozen.user_attrs.get(PARAMS_ATTR) or {})
        with storage.budget_lock(self.study, self.storage_ref):
            return self._ask_locked()

    def _ask_locked(self):
        """(trial, params), or None when the budget (shared by every worker of the job)
        is used or the sampler has nothing left; call under the budget lock."""
        used = storage.budget_used(self.study)
        if used >= self.plan.max_trials or self.sampler.is_exhausted():
            return None
        self._queue_final_run(self.plan.max_trials - used)
        self._queue_portfolio_entry()
        with warnings.catch_warnings():
            # "heartbeat is supposed to be used with Study.optimize": we beat ourselves
            warnings.simplefilter("ignore", UserWarning)
            trial, params = self.sampler.ask()
        overrides = trial.user_attrs.get(OVERRIDES_ATTR)
        if overrides:  # a final run's epochs (fidelity.py): what it runs with, as recorded
            params = {**params, **overrides}
            trial.set_user_attr(PARAMS_ATTR, params)
        self.heartbeat.beat_now(storage.trial_id(trial))
        return trial, params

    def _queue_portfolio_entry(self) -> None:
        """AutoMode's next portfolio entry, queued when nothing else waits: one at a time,
        so that a final run queued meanwhile goes first (Optuna asks the oldest waiting)."""
        automode = self.plan.automode
        if automode is None:
            return
        trials = self.study.get_trials(deepcopy=False)
        if any(trial.state == TrialState.WAITING for trial in trials):
            return
        queued = {trial.user_attrs.get(PORTFOLIO_ATTR) for trial in trials}
        index = next((i for i in range(automode.n_portfolio) if i not in queued), None)
        if index is not None:
            params = automode.enqueue_params(index)
            self.study.enqueue_trial(params, user_attrs={PORTFOLIO_ATTR: index})

    def _queue_final_run(self, trials_left: int) -> None:
        """Multi-fidelity AutoMode's exploitation (fidelity.py): the best configuration so
        far queued, once, to run on with the epochs the time left holds."""
        plan = self.plan.fidelity
        if plan is None or self._final_run_queued():
            return
        seconds_left = plan.timeout_minutes * 60.0 - (time.time() - self.started_epoch)
        final = fidelity.final_run(
            self.rows({}), plan, seconds_left, trials_left, self._has_own_checkpoint
        )
        if final is None:
            return
        trials = self.study.get_trials(deepcopy=False)
        frozen = next(trial for trial in trials if trial.number == final.number)
        overrides = fidelity.final_overrides(final, self.plan.fixed_params)
        attrs = {FINAL_ATTR: True, OVERRIDES_ATTR: overrides}
        if final.continues:
            attrs[CONTINUES_ATTR] = final.number
        self.study.enqueue_trial(dict(frozen.params), user_attrs=attrs)
        logger.info("automode budget: %s", final.why)

    def finish_by(self) -> float | None:
        """When a trial's last epoch should end (TrialSpec.finish_by): multi-fidelity
        AutoMode's trials end before the job's budget, the job's own finish kept apart."""
        plan = self.plan.fidelity
        if plan is None:
            return None
        return self.started_epoch + plan.timeout_minutes * 60.0 - fidelity.FINISH_RESERVE_S

    def _has_own_checkpoint(self, number: int) -> bool:
        """Whether trial `number` left our loop's checkpoint (a final run continues it)."""
        return (self.run_dir / "trials" / str(number) / recovery.RESUMABLE_CHECKPOINTS[0]).is_file()

    def _final_run_queued(self) -> bool:
        trials = self.study.get_trials(deepcopy=False)
        return any(trial.user_attrs.get(FINAL_ATTR) for trial in trials)

    def next_group_place(self):
        """(asked, place): a new trial this node leads (asked, its place as rank 0), or
        a place in another node's open group (None, place), or (None, None)."""
        n_nodes = self.plan.n_nodes
        with storage.budget_lock(self.study, self.storage_ref):
            place = groups.claim_place(self.study, n_nodes)
            asked = None if place is not None else self._ask_locked()
            if asked is None:
                return None, place
            trial_id = storage.trial_id(asked[0])
            group = groups.open_group(self.study, trial_id, n_nodes)
        place = groups.GroupPlace(
            trial_id, asked[0].number, 0, group["endpoint"], group["run_id"], n_nodes
        )
        return asked, place

    def resumes(self, trial) -> bool:
        """Whether the trial continues from a checkpoint (its own, or the one it took
        over from the trial it continues: recovery.adopt_predecessor)."""
        return trial.number in self.resuming or recovery.adopt_predecessor(self.run_dir, trial)

    def prestart_standby(self, slot: TrialSlot) -> None:
        """While this slot's trial runs, its next one's process imports torch (standby.py)."""
        if not (self.standby_fits and self.standby.enabled) or self.sampler.is_exhausted():
            return
        if storage.budget_used(self.study) < self.plan.max_trials:
            self.standby.prestart(slot.sticky_variables)

    def beat(self, trial_ids: list[int]) -> list[int]:
        """Heartbeats for `trial_ids` (and the trials to continue); return the numbers of
        trials failed as lost (of any worker), whose checkpoints are continued."""
        resumable = [storage.trial_id(t) for t in self.resumable]
        lost = self.heartbeat.tick(trial_ids + resumable)
        if lost and self.plan.n_nodes == 1:  # a lost trial's checkpoint is continued
            with storage.budget_lock(self.study, self.storage_ref):
                recovery.enqueue_continuations(self.study, self.run_dir, lost)
        return lost

    # ---- the job record -------------------------------------------------------------

    def rows(self, live: dict[int, TrialResult]) -> list[dict]:
        """Every trial's summary row; `live`: what is seen of the trials running here."""
        return trial_rows(self.study.get_trials(deepcopy=False), live)

    def write_summary(self, rows: list[dict], status: str, **extra: Any) -> dict:
        return self.writer.write(rows, status, storage=redact_url(self.storage_ref), **extra)

    def emit(self, event: dict) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a display bug must not stop a sweep
            logger.exception("event handler failed on %s", event.get("type"))
