"""The job controller: one loop serves a single trial, AutoMode and manual sweeps.

For each trial it samples hyperparameters (the study's sampler), merges them over the
user's `training_parameters`, resolves every default, writes `trials/<n>/spec.json` (a
`TrialSpec`, engine/trials/) and launches the trial module on it as its own process group
(launch.py), up to `max_concurrent_trials` at once, one GPU per trial slot or the CPU
threads split between slots (slots.py). It watches `status.json` for progress and each
trial's limits (monitor.py), and when a trial exits judges its `TrialResult`
(outcome.py), records it in the study (storage.py) and rewrites the run directory's job
record (summary.py). The plan (limits, search space, policies) comes from plan.py.

Stopping: `timeout_minutes` (whole job), `trial_timeout_minutes` (per trial), a cancel
(event, SIGINT, SIGTERM or SIGHUP: every trial's process group is killed, finished trials
are kept), and a job whose first trials all fail the same way. Every process it starts
carries its identity and stops by itself when the controller dies, even by SIGKILL
(engine/utils/processes.py); `resume` stops any left-over and continues interrupted trials
from their checkpoints (recovery.py).

Several controllers may work on one study (`join=True`: `automl job worker`, on other
machines with an RDB storage): the budget is counted and the next trial asked under a lock
shared through the storage, so `max_trials` holds exactly; each controller beats for its
running trials and fails the trials of workers that stopped beating (heartbeat.py); the
job's start time comes from the study, so `timeout_minutes` counts from the job's start.
With `properties.node_count_per_trial: N` each controller is one node: it leads a new trial
or joins an open group of N nodes that run one trial together (groups.py), one at a time.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl.engine.errors import AutomlError, CanceledError
from automl.engine.sweep import groups, storage
from automl.engine.sweep.attrs import PID_ATTR, STATUS_ATTR
from automl.engine.sweep.launch import RunningTrial, TrialLauncher, cancel_on_signals
from automl.engine.sweep.monitor import STATUS_POLL_S, TrialMonitor
from automl.engine.sweep.outcome import (
    ended_by,
    failure_streak_error,
    final_status,
    finished_note,
    judge_trial,
    log_finished,
    log_tail,
)
from automl.engine.sweep.plan import ParameterResolver, SweepPlan, default_resolver, plan_sweep
from automl.engine.sweep.plots import (
    copy_best_trial_plots,
    prewarm_plotting,
    write_sweep_plots,
)
from automl.engine.sweep.processes import signal_group, trial_record
from automl.engine.sweep.pruners._base import reported_values
from automl.engine.sweep.session import SweepSession
from automl.engine.sweep.slots import TrialSlot, detect_gpus
from automl.engine.sweep.standby import StandbyPool
from automl.engine.sweep.summary import utc_now
from automl.engine.sweep.tracking import open_tracking
from automl.engine.trials import (
    STOPPED_BY_BUDGET,
    TRIAL_MODULE,
    StudyRef,
    TrialResult,
    TrialSpec,
)
from automl.engine.trials.storage_url import redact_url

logger = logging.getLogger("automl.sweep")

POLL_INTERVAL_S = 0.05

EventCallback = Callable[[dict], None]


def run_job(
    job,
    run_dir: Path,
    data,
    *,
    on_event: EventCallback | None = None,
    storage_url: str | None = None,
    resume: bool = False,
    gpus: list[int] | None = None,
    cancel_event: threading.Event | None = None,
    trial_module: str = TRIAL_MODULE,
    resolve_parameters: ParameterResolver | None = None,
    poll_interval_s: float = POLL_INTERVAL_S,
    join: bool = False,
    standby: StandbyPool | None = None,
    tracking_uri: str | None = None,
) -> dict:
    """Run a job's trials (single, AutoMode or sweep) and return the final summary dict.

    `job` is an `automl.engine.config.Job`; `data` a `PreparedData`. `trial_module` is a
    module name (run with -m) or a path to a .py file. `join`: work on the existing study
    of another controller (a worker) until the job's limits are reached. Raises
    CanceledError after writing the summary when the job is canceled; a failed job returns
    status "failed". `standby`: trial processes already started for `trial_module` (by
    `submit_job`, while it validated the job); the controller starts its own otherwise.
    `tracking_uri`: the MLflow store (None: MLFLOW_TRACKING_URI, else no tracking;
    engine/sweep/tracking.py).
    """
    resolver = resolve_parameters or default_resolver()
    visible_gpus = detect_gpus() if gpus is None else list(gpus)
    plan = plan_sweep(job, data, visible_gpus, resolver)
    session = SweepSession(
        job,
        Path(run_dir),
        data,
        plan,
        gpus=visible_gpus,
        storage_ref=storage.storage_reference(Path(run_dir), storage_url),
        resume=resume,
        join=join,
        on_event=on_event,
        standby=standby or StandbyPool(trial_module),
    )
    controller = SweepController(
        session,
        resolver=resolver,
        cancel_event=cancel_event or threading.Event(),
        trial_module=trial_module,
        poll_interval_s=poll_interval_s,
        tracking_uri=tracking_uri,
    )
    with cancel_on_signals(controller.cancel_event):
        return controller.run()


class SweepController:
    """Runs the trials of one job; see the module docstring. The job's study, slots and
    record are its `session` (session.py); the loop below is the orchestration."""

    def __init__(
        self,
        session: SweepSession,
        *,
        resolver: ParameterResolver,
        cancel_event: threading.Event,
        trial_module: str,
        poll_interval_s: float,
        tracking_uri: str | None = None,
    ) -> None:
        self.session = session
        self.plan: SweepPlan = session.plan
        self.resolver = resolver
        self.cancel_event = cancel_event
        self.poll_interval_s = poll_interval_s
        self.launcher = TrialLauncher(
            trial_module, session.standby, session.identity, session.storage_ref
        )
        self.monitor: TrialMonitor | None = None  # once the study is open
        self.running: dict[int, RunningTrial] = {}
        self.stop_reason: tuple[str, str] | None = None
        self.started = time.monotonic()
        self.tracking_uri = tracking_uri
        self.tracker = None  # the job's MLflow run (engine/sweep/tracking.py), when tracked

    # ---- the loop -------------------------------------------------------------------

    def run(self) -> dict:
        """Run until the budget is used, the job times out, fails early or is canceled."""
        self.session.open()
        self.tracker = open_tracking(self.session, self.tracking_uri)
        if self.tracker is not None:
            self.launcher.extra_env = self.tracker.trial_environment()
        self.monitor = TrialMonitor(self.session.study, self.plan, self.session.emit)
        if self.session.draws_sweep_charts:
            prewarm_plotting()
        self._write_summary("running")
        try:
            while True:
                self._poll_running()
                self._beat()
                self._check_limits()
                if self.stop_reason is not None:
                    self._stop_all()
                    break
                self._fill_slots()
                if not self.running:
                    break
                self.cancel_event.wait(self.poll_interval_s)
        except BaseException:
            for running in self.running.values():
                running.kill()
            if self.tracker is not None:
                self.tracker.end_failed()
            raise
        finally:
            self.session.standby.close()
        return self._finish()

    def _fill_slots(self) -> None:
        busy = {trial.slot.index for trial in self.running.values()}
        for slot in [slot for slot in self.session.slots if slot.index not in busy]:
            if self.plan.n_nodes > 1:
                self._fill_group_slot(slot)
                return
            asked = self.session.next_trial()
            if asked is None:
                return
            self._launch(slot, *asked)
            if self.stop_reason is not None:
                return
            self.session.prestart_standby(slot)

    def _fill_group_slot(self, slot: TrialSlot) -> None:
        """Join an open group of nodes, else lead a new trial's group (groups.py)."""
        asked, place = self.session.next_group_place()
        if asked is not None:
            self._launch(slot, *asked, place=place)
        elif place is not None:
            self._launch_member(slot, place)

    def _beat(self) -> None:
        """Heartbeats for our trials; trials of lost workers are failed (and logged)."""
        # The leader beats for a group's trial: a dead leader fails it, members follow.
        ours = [r.trial_id for r in self.running.values() if not r.member]
        for number in self.session.beat(ours):
            if number in self.running:  # ours, yet stale: this worker was stalled too long
                self.running[number].stop("failed", "lost its heartbeat")
            self._write_summary("running")

    def _check_limits(self) -> None:
        if self.stop_reason is not None:
            return
        if self.cancel_event.is_set():
            self.stop_reason = ("canceled", "canceled (Ctrl-C, SIGTERM or automl job cancel)")
            return
        timeout = self.plan.timeout_minutes
        if timeout is not None and self._elapsed_minutes() >= float(timeout):
            self.stop_reason = (
                "timeout",
                f"the job's limits.timeout_minutes ({timeout}) was reached",
            )

    def _elapsed_minutes(self) -> float:
        if self.session.join:  # from the job's start, stored with the study by its creator
            return (time.time() - self.session.started_epoch) / 60.0
        return (time.monotonic() - self.started) / 60.0

    # ---- launching ------------------------------------------------------------------

    def _launch(
        self, slot: TrialSlot, trial, params: dict, place: groups.GroupPlace | None = None
    ) -> None:
        trial_dir = self.session.trial_dir(trial.number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        try:
            parameters = self.resolver(self.session.job.task, {**self.plan.fixed_params, **params})
        except AutomlError as error:
            self._record_unlaunched(trial, params, f"invalid trial parameters: {error}")
            return
        spec = self._spec(trial, params, parameters, slot)
        spec.write(trial_dir / "spec.json")
        process = self.launcher.start(trial_dir / "spec.json", slot, parameters, place)
        if not self._record_process(trial, process):
            return
        running = RunningTrial(
            trial.number, storage.trial_id(trial), params, slot, process, trial_dir
        )
        self._set_deadlines(running, place)
        self.running[trial.number] = running
        logger.debug("trial %d started (pid %d) with %s", trial.number, process.pid, params)
        self.session.emit({"type": "trial_started", "number": trial.number, "params": params})
        self._write_summary("running")

    def _spec(self, trial, params: dict, parameters: dict, slot: TrialSlot) -> TrialSpec:
        session = self.session
        return TrialSpec(
            task=session.job.task,
            trial_dir=session.trial_dir(trial.number).resolve(),
            primary_metric=session.metric,
            training_parameters=parameters,
            data=session.trial_data,
            device=slot.device,
            n_threads=slot.n_threads,
            job_name=session.name,
            run_dir=session.run_dir.resolve(),
            trial_number=trial.number,
            log_verbosity=session.job.resolved.get("log_verbosity"),
            params=params,
            resume=session.resumes(trial),  # continue from checkpoints/last.pt
            tracking=None if self.tracker is None else self.tracker.trial_ref(),
            finish_by=session.finish_by(),
            study=StudyRef(
                # credentials never reach a file: the trial reads the URL from STORAGE_ENV
                redact_url(session.storage_ref),
                session.name,
                storage.trial_id(trial),
                session.pruner_spec,
            ),
        )

    def _record_process(self, trial, process) -> bool:
        """Store the trial's process with it; False when another worker failed it as
        lost meanwhile (this one was stalled past the grace period): it is killed."""
        import optuna

        try:
            trial.set_user_attr(PID_ATTR, trial_record(process.pid, self.session.identity))
        except optuna.exceptions.UpdateFinishedTrialError:
            signal_group(process.pid, signal.SIGKILL)
            logger.warning("trial %d was failed as lost before it started here", trial.number)
            return False
        return True

    def _set_deadlines(self, running: RunningTrial, place: groups.GroupPlace | None) -> None:
        if self.plan.trial_timeout_minutes is not None:
            running.deadline = running.started + 60.0 * float(self.plan.trial_timeout_minutes)
        if place is not None:
            running.group_deadline = running.started + groups.group_wait_s()

    def _launch_member(self, slot: TrialSlot, place: groups.GroupPlace) -> None:
        trial_dir = self.session.trial_dir(place.number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        process = self.launcher.start(trial_dir / "spec.json", slot, {}, place)
        running = RunningTrial(place.number, place.trial_id, {}, slot, process, trial_dir)
        running.member = True
        self.running[place.number] = running
        logger.info(
            "trial %d: joined its group as node %d of %d (rendezvous %s)",
            place.number,
            place.node_rank,
            place.n_nodes,
            place.endpoint,
        )

    def _record_unlaunched(self, trial, params: dict, error: str) -> None:
        result = TrialResult.failure(error, duration_s=0.0)
        storage.record_outcome(self.session.study, storage.trial_id(trial), result)
        self._after_finish(trial.number, params, result)

    # ---- running and finished trials ------------------------------------------------

    def _poll_running(self) -> None:
        now = time.monotonic()
        for running in list(self.running.values()):
            returncode = running.process.poll()
            if returncode is not None:
                self._finish_trial(running, returncode)
                continue
            if running.kill_at is not None and now >= running.kill_at:
                running.kill()
            self.monitor.check(running, now)

    def _finish_trial(self, running: RunningTrial, returncode: int) -> None:
        running.kill()  # leftovers, e.g. data workers
        del self.running[running.number]
        if running.member:  # the group's leader records the outcome
            logger.info(
                "trial %d: this node's part ended (exit code %d)", running.number, returncode
            )
            self._await_leader(running)
            return
        result = judge_trial(running, returncode, lambda: self._best_reported(running.trial_id))
        storage.record_outcome(self.session.study, running.trial_id, result)
        self._after_finish(running.number, running.params, result)

    def _await_leader(self, running: RunningTrial) -> None:
        """Wait (bounded) until the leader recorded the trial: a member that left first
        would otherwise see no finished trial and call the job failed."""
        deadline = time.monotonic() + groups.LEADER_RECORD_WAIT_S
        while time.monotonic() < deadline and not self.cancel_event.is_set():
            if storage.is_finished(self.session.study, running.trial_id):
                return
            self.cancel_event.wait(STATUS_POLL_S)
        logger.warning("trial %d: its leader has not recorded it yet", running.number)

    def _best_reported(self, trial_id: int) -> float | None:
        study = self.session.study
        values = reported_values(study, storage.frozen_trial(study, trial_id))
        return max(values) if values else None

    def _after_finish(self, number: int, params: dict, result: TrialResult) -> None:
        summary = self._write_summary("running")
        best = summary["best_trial"] or {}
        log_finished(number, params, result, best, self.session.metric)
        if self.tracker is not None:
            self.tracker.log_trial(number, result.score)
        self.session.emit(
            {
                "type": "trial_finished",
                "number": number,
                "state": result.state,
                "score": result.score,
                "params": params,
                "duration_s": result.duration_s,
                "error": result.error,
                "log_tail": log_tail(self.session.trial_dir(number) / "trial.log"),
                "best_number": best.get("number"),
                "best_score": best.get("score"),
            }
        )
        streak = failure_streak_error(summary["trials"], self.plan.max_trials)
        if streak is not None and self.stop_reason is None:
            self.stop_reason = ("failed", streak)

    def _stop_all(self) -> None:
        """Stop every running trial (SIGTERM, then SIGKILL after a grace period)."""
        kind, message = self.stop_reason
        for running in self.running.values():
            if running.stop_state is None:
                if kind == "timeout":  # its best epoch so far counts (outcome.py)
                    running.stopped_by = STOPPED_BY_BUDGET
                running.stop("canceled", f"stopped: {message}")
            else:
                running.stop(running.stop_state, running.stop_error)
        while self.running:
            for running in list(self.running.values()):
                returncode = running.process.poll()
                if returncode is not None:
                    self._finish_trial(running, returncode)
                elif time.monotonic() >= running.kill_at:
                    running.kill()
            time.sleep(self.poll_interval_s)

    # ---- the job record -------------------------------------------------------------

    def _write_summary(self, status: str, **extra: Any) -> dict:
        live = {n: r.live_result() for n, r in self.running.items()}
        return self.session.write_summary(self.session.rows(live), status, **extra)

    def _finish(self) -> dict:
        session = self.session
        rows = session.rows({})
        status, error = final_status(rows, self.stop_reason)
        if session.join and status == "completed" and any(r["state"] == "running" for r in rows):
            status = "running"  # other workers still run trials; the last one completes it
        ended = ended_by(self.stop_reason)
        summary = session.write_summary(
            rows, status, error=error, ended_by=ended, finished_at=utc_now()
        )
        session.study.set_user_attr(STATUS_ATTR, {"status": status, "error": error})
        self._draw_plots(rows, (summary["best_trial"] or {}).get("number"))
        if self.tracker is not None:  # the last worker ends the job's run
            self.tracker.finish(session.run_dir, summary, ends_run=status != "running")
        best = summary["best_trial"] or {}
        # its error is the CLI's one error line
        logger.info("job %s %s%s", session.name, status, finished_note(ended, status, best))
        session.emit(
            {
                "type": "job_finished",
                "status": status,
                "best_number": best.get("number"),
                "best_score": best.get("score"),
            }
        )
        if status == "canceled":
            raise CanceledError(
                f"job {session.name} canceled; its finished trials are kept in {session.run_dir}",
                hint=f"continue it with: automl job resume {session.name}",
            )
        return summary

    def _draw_plots(self, rows: list[dict], best_number: int | None) -> None:
        session = self.session
        try:
            copy_best_trial_plots(session.run_dir, best_number)
            if session.draws_sweep_charts:  # a single trial has only its own plots
                write_sweep_plots(session.run_dir, rows, session.study, session.metric)
        except (OSError, ValueError, RuntimeError) as plot_error:  # plots never fail a job
            logger.warning("sweep plots skipped: %s", plot_error)
