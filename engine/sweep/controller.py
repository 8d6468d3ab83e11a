"""The job controller: one loop serves a single trial, AutoMode and manual sweeps.

For each trial it samples hyperparameters (the study's sampler), merges them over the
user's `training_parameters`, resolves every default, writes `trials/<n>/spec.json` and
launches `[python, -m, <trial module>, spec.json]` as its own process group (stdout and
stderr to `trials/<n>/trial.log`), up to `max_concurrent_trials` at once, one GPU per
trial slot (`CUDA_VISIBLE_DEVICES`) or the CPU threads split between slots. It polls
`status.json` for progress and reads `result.json` when a trial exits; the outcome goes
into the study and the run directory's summary.

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
A trial with `distributed: true` and several GPUs in its slot runs through torchrun, one
process per GPU (engine/training/distributed.py). With `properties.node_count_per_trial: N`
each controller is one node: it leads a new trial or joins an open group of N nodes that
run one trial together (groups.py), one trial at a time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from automl.engine.errors import AutomlError, CanceledError
from automl.engine.sweep import automode as automode_policy
from automl.engine.sweep import groups, recovery
from automl.engine.sweep.heartbeat import HeartbeatKeeper
from automl.engine.sweep.processes import signal_group, trial_record
from automl.engine.sweep.pruners import build_pruner, pruner_spec
from automl.engine.sweep.pruners._base import reported_values
from automl.engine.sweep.samplers import (
    PARAMS_ATTR,
    SweepSampler,
    build_sampler,
    normalize_sampling,
)
from automl.engine.sweep.space import SearchSpace
from automl.engine.sweep.standby import (
    TRIAL_MODULE,
    StandbyPool,
    cpu_threads_per_slot,
    slot_variables,
)
from automl.engine.sweep.storage import (
    JOB_ATTR,
    PID_ATTR,
    STATUS_ATTR,
    budget_lock,
    budget_used,
    interrupted_outcome,
    job_record,
    open_study,
    outcome_from_result,
    record_outcome,
    storage_reference,
)
from automl.engine.sweep.storage_url import STORAGE_ENV, is_url, redact_url
from automl.engine.sweep.summary import (
    SummaryWriter,
    prewarm_plotting,
    trial_rows,
    utc_now,
    write_sweep_plots,
)
from automl.engine.utils.files import write_json_atomic
from automl.engine.utils.gpus import cuda_may_be_present
from automl.engine.utils.processes import ProcessIdentity, controller_marker

logger = logging.getLogger("automl.sweep")

POLL_INTERVAL_S = 0.05
STATUS_POLL_S = 0.25  # how often status.json and the study are read per running trial
KILL_GRACE_S = 10.0  # SIGTERM -> SIGKILL: time for a trial to save last.pt
PRUNE_GRACE_S = 5.0  # time a trial gets to stop itself once the policy says so
FAILURE_STREAK = 3
LOG_TAIL_LINES = 20
AUTOMODE_PLAN_FILE = "automode_plan.json"

EventCallback = Callable[[dict], None]
ParameterResolver = Callable[[str, dict], dict]


@dataclass
class SweepPlan:
    """What the controller runs: limits, search space, sampler, pruner, fixed values."""

    mode: str
    max_trials: int
    max_concurrent: int
    timeout_minutes: float | None
    trial_timeout_minutes: float | None
    space: SearchSpace
    sampling: dict
    early_termination: dict | None
    fixed_params: dict
    automode: automode_policy.AutoModePlan | None = None
    n_nodes: int = 1  # properties.node_count_per_trial

    def limits(self) -> dict:
        return {
            "max_trials": self.max_trials,
            "max_concurrent_trials": self.max_concurrent,
            "timeout_minutes": self.timeout_minutes,
            "trial_timeout_minutes": self.trial_timeout_minutes,
        }


@dataclass
class TrialSlot:
    """Where one concurrent trial runs: a GPU (CUDA_VISIBLE_DEVICES value) or CPU threads."""

    index: int
    cuda_visible_devices: str
    n_threads: int

    @property
    def device(self) -> str:
        return "cuda" if self.cuda_visible_devices else "cpu"

    @property
    def n_gpus(self) -> int:
        return len(self.cuda_visible_devices.split(",")) if self.cuda_visible_devices else 0

    @property
    def sticky_variables(self) -> dict[str, str]:
        """What a standby process for this slot must be started with (standby.py)."""
        return slot_variables(self.cuda_visible_devices, self.n_threads)


@dataclass
class RunningTrial:
    """A launched trial process and what the controller has seen of it."""

    number: int
    trial_id: int
    params: dict
    slot: TrialSlot
    process: subprocess.Popen
    trial_dir: Path
    started: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    progress: dict = field(default_factory=dict)
    next_check: float = 0.0
    n_reports: int = 0
    prune_deadline: float | None = None
    stop_state: str | None = None
    stop_error: str | None = None
    kill_at: float | None = None
    member: bool = False  # a node of another controller's group: the leader records it
    group_deadline: float | None = None  # when a led group must have formed

    def live_info(self) -> dict:
        return {
            "epochs_completed": self.progress.get("epoch") or 0,
            "duration_s": round(time.monotonic() - self.started, 3),
            "best_score": self.progress.get("best_score"),
        }


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
) -> dict:
    """Run a job's trials (single, AutoMode or sweep) and return the final summary dict.

    `job` is an `automl.engine.config.Job`; `data` a `PreparedData`. `trial_module` is a
    module name (run with -m) or a path to a .py file. `join`: work on the existing study
    of another controller (a worker) until the job's limits are reached. Raises
    CanceledError after writing the summary when the job is canceled; a failed job returns
    status "failed". `standby`: trial processes already started for `trial_module` (by
    `submit_job`, while it validated the job); the controller starts its own otherwise.
    """
    resolver = resolve_parameters or _default_resolver()
    visible_gpus = detect_gpus() if gpus is None else list(gpus)
    plan = plan_sweep(job, data, visible_gpus, resolver)
    controller = SweepController(
        job,
        Path(run_dir),
        data,
        plan,
        gpus=visible_gpus,
        resolver=resolver,
        on_event=on_event,
        storage_ref=storage_reference(Path(run_dir), storage_url),
        resume=resume,
        cancel_event=cancel_event or threading.Event(),
        trial_module=trial_module,
        poll_interval_s=poll_interval_s,
        join=join,
        standby=standby,
    )
    with _signals_set(controller.cancel_event):
        return controller.run()


def _default_resolver() -> ParameterResolver:
    from automl.engine.config import resolve_trial_parameters

    return resolve_trial_parameters


def detect_gpus() -> list[int]:
    """The CUDA devices this process sees ([] without CUDA); imports torch only if needed."""
    if not cuda_may_be_present():
        return []
    try:
        import torch
    except ImportError:
        return []
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


@contextlib.contextmanager
def _signals_set(event: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM, and SIGHUP (the terminal closed) unless ignored (nohup), set the
    cancel event: trials are stopped and the summary written. Main thread only; elsewhere
    it is the caller's job."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signals.append(signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: event.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def plan_sweep(job, data, gpus: list[int], resolver: ParameterResolver) -> SweepPlan:
    """Limits, search space and policies of a job, for any of the three modes."""
    limits = job.resolved.get("limits") or {}
    sweep = job.resolved.get("sweep") or {}
    max_trials = 1 if job.mode == "single" else int(limits.get("max_trials") or 1)
    fixed = dict(job.user_training_parameters or {})
    plan = SweepPlan(
        mode=job.mode,
        max_trials=max_trials,
        max_concurrent=max(1, min(int(limits.get("max_concurrent_trials") or 1), max_trials)),
        timeout_minutes=limits.get("timeout_minutes"),
        trial_timeout_minutes=limits.get("trial_timeout_minutes"),
        space=SearchSpace.from_config(None),
        sampling={"type": "random", "seed": fixed.get("random_seed")},
        early_termination=None,
        fixed_params=fixed,
        n_nodes=groups.node_count(job),
    )
    int_keys = integer_hyperparameters(job.task)
    if job.mode == "sweep":
        plan.sampling = normalize_sampling(sweep.get("sampling_algorithm"))
        plan.space = SearchSpace.from_config(
            job.resolved.get("search_space"),
            logbase=plan.sampling.get("logbase") or math.e,
            int_keys=int_keys,
        )
        plan.early_termination = sweep.get("early_termination") or None
    elif job.mode == "automode":
        plan.automode = _plan_automode(job, data, gpus, max_trials, fixed, resolver)
        plan.space = plan.automode.search_space
        plan.sampling = {
            "type": "bayesian",
            "seed": fixed.get("random_seed"),
            "n_startup_trials": plan.automode.n_portfolio,
        }
    return plan


def integer_hyperparameters(task: str) -> set[str]:
    """Searchable keys the job schema types as integers: sampled floats for them round."""
    from automl import schemas

    names = set()
    for name in schemas.searchable_names(task):
        try:
            kind = schemas.hyperparameter_schema(name).get("type")
        except KeyError:  # per-task keys (model_name) have no task-free schema
            continue
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            names.add(name)
    return names


def _plan_automode(job, data, gpus, max_trials, fixed, resolver):
    memory = _gpu_memory_gb(gpus[0]) if gpus else None
    hardware = automode_policy.profile_hardware(gpus, memory, os.cpu_count() or 1)
    profile = automode_policy.profile_data(job.task, Path(data.train_manifest))

    def default_learning_rate(model: str) -> float | None:
        return resolver(job.task, {"model_name": model}).get("learning_rate")

    return automode_policy.plan_automode(
        job.task, profile, hardware, max_trials, fixed, default_learning_rate
    )


def _gpu_memory_gb(index: int) -> float | None:
    import torch

    return torch.cuda.get_device_properties(index).total_memory / 2**30


def make_slots(n_slots: int, gpus: list[int]) -> list[TrialSlot]:
    """One slot per concurrent trial: the GPUs split evenly between slots (round-robin when
    there are fewer GPUs than slots), else the CPU cores split evenly."""
    n_threads = cpu_threads_per_slot(n_slots)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    # Indices are what this process sees; the child needs the parent's own device names.
    names = visible.split(",") if visible else [str(gpu) for gpu in gpus]
    if not gpus:
        return [TrialSlot(i, "", n_threads) for i in range(n_slots)]
    per_slot = max(1, len(gpus) // n_slots)
    slots = []
    for i in range(n_slots):
        chosen = [gpus[(i * per_slot + k) % len(gpus)] for k in range(per_slot)]
        slots.append(TrialSlot(i, ",".join(names[g] for g in chosen), n_threads))
    return slots


class SweepController:
    """Runs the trials of one job; see the module docstring."""

    def __init__(
        self,
        job,
        run_dir: Path,
        data,
        plan: SweepPlan,
        *,
        gpus: list[int],
        resolver: ParameterResolver,
        on_event: EventCallback | None,
        storage_ref: str,
        resume: bool,
        cancel_event: threading.Event,
        trial_module: str,
        poll_interval_s: float,
        join: bool = False,
        standby: StandbyPool | None = None,
    ) -> None:
        self.job, self.run_dir, self.data, self.plan = job, run_dir, data, plan
        self.join = join
        self.started_epoch = time.time()
        self.heartbeat: HeartbeatKeeper | None = None
        self.resolver = resolver
        self.on_event = on_event
        self.storage_ref = storage_ref
        self.resume = resume
        self.cancel_event = cancel_event
        self.trial_module = trial_module
        self.poll_interval_s = poll_interval_s
        # A node of a multi-node group takes part in one trial at a time.
        self.slots = make_slots(1 if plan.n_nodes > 1 else plan.max_concurrent, gpus)
        self.running: dict[int, RunningTrial] = {}
        self.identity = ProcessIdentity.current()  # marks every process it starts
        self.resumable: list[optuna.trial.FrozenTrial] = []  # continue from a checkpoint
        self.resuming: set[int] = set()  # their numbers
        self.stop_reason: tuple[str, str] | None = None
        self.started = time.monotonic()
        self.started_at = utc_now()
        self.name = job.name or run_dir.name
        self.metric = job.primary_metric
        self.writer = SummaryWriter(run_dir, self._summary_header())
        self.study = None
        self.sampler: SweepSampler | None = None
        self.standby = standby or StandbyPool(trial_module)
        self.standby.max_idle = max(self.standby.max_idle, len(self.slots))
        # standbys run plain single-process trials: not torchrun ranks, not group nodes
        self.standby_fits = plan.n_nodes == 1 and all(s.n_gpus <= 1 for s in self.slots)
        self.standby.retain([s.sticky_variables for s in self.slots] if self.standby_fits else [])
        self.draws_sweep_charts = plan.mode != "single"  # one point charts nothing

    # ---- set-up ---------------------------------------------------------------------

    def _summary_header(self) -> dict:
        return {
            "name": self.name,
            "task": self.job.task,
            "mode": self.plan.mode,
            "primary_metric": {"name": self.metric, "goal": "maximize"},
            "limits": self.plan.limits(),
            "data": {
                "train_images": self.data.n_train,
                "validation_images": self.data.n_valid,
                # identical to a training image: warned about, left out of scoring
                "leaked_validation_images": self.data.leaked_validation_images,
            },
            "started_at": self.started_at,
        }

    def _open(self) -> None:
        (self.run_dir / "trials").mkdir(parents=True, exist_ok=True)
        self.study = open_study(
            self.storage_ref,
            self.name,
            resume=self.resume or self.join,
            sampler=build_sampler(self._sampling(), self.plan.space),
            pruner=build_pruner(self.plan.early_termination),
        )
        self.pruner = self.study.pruner
        self.pruner_spec = pruner_spec(self.plan.early_termination)
        self.sampler = SweepSampler(self.study, self.plan.space)
        self.heartbeat = HeartbeatKeeper(self.study, socket.gethostname())
        if self.join:
            self._adopt_job_start()
        elif self.resume:
            self._recover_interrupted()
        else:
            self._record_job_start()
        if self.plan.automode is not None and not (self.resume or self.join):
            for index in range(self.plan.automode.n_portfolio):
                self.study.enqueue_trial(self.plan.automode.enqueue_params(index))
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
        record = job_record(self.study)
        if record.get("started_at") is not None:
            self.started_epoch = float(record["started_at"])
            self.started_at = record.get("started_at_iso") or self.started_at
            self.writer.header["started_at"] = self.started_at

    def _announce_plan(self) -> None:
        plan_json = None
        if self.plan.automode is not None:
            plan_json = self.plan.automode.to_json(self.plan.max_trials)
            write_json_atomic(self.run_dir / AUTOMODE_PLAN_FILE, plan_json)
            for index, config in enumerate(self.plan.automode.portfolio):
                logger.info("automode plan %d: %s", index, config)
        logger.info(
            "job %s: %s, up to %d trials, %d at a time on %s",
            self.name,
            self.plan.mode,
            self.plan.max_trials,
            self.plan.max_concurrent,
            ", ".join(s.cuda_visible_devices or "cpu" for s in self.slots),
        )
        self._emit(
            {
                "type": "plan",
                "mode": self.plan.mode,
                "max_trials": self.plan.max_trials,
                "max_concurrent_trials": self.plan.max_concurrent,
                "plan": plan_json["portfolio"] if plan_json else None,
            }
        )

    def _recover_interrupted(self) -> None:
        """Trials RUNNING in the study from a stopped controller (recovery.py): results
        adopted, interrupted ones continued from their checkpoint, the rest failed."""
        can_resume = self.plan.n_nodes == 1  # a group's nodes would have to meet again
        self.resumable = recovery.recover_trials(self.study, self.run_dir, can_resume=can_resume)
        self.resuming = {trial.number for trial in self.resumable}
        for trial in self.resumable:  # not stale before it is relaunched
            self.heartbeat.beat_now(trial._trial_id)
        if can_resume:
            with budget_lock(self.study, self.storage_ref):
                recovery.enqueue_continuations(self.study, self.run_dir)

    # ---- main loop ------------------------------------------------------------------

    def run(self) -> dict:
        """Run until the budget is used, the job times out, fails early or is canceled."""
        self._open()
        if self.draws_sweep_charts:
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
            self._kill_all_now()
            raise
        finally:
            self.standby.close()
        return self._finish()

    def _fill_slots(self) -> None:
        free = [slot for slot in self.slots if slot.index not in self._busy_slots()]
        for slot in free:
            if self.plan.n_nodes > 1:
                self._fill_group_slot(slot)
                return
            asked = self._next_resumable() or self._ask_within_budget()
            if asked is None:
                return
            self._launch(slot, *asked)
            if self.stop_reason is not None:
                return
            self._prestart_standby(slot)

    def _prestart_standby(self, slot: TrialSlot) -> None:
        """While this slot's trial runs, its next one's process imports torch (standby.py)."""
        if not (self.standby_fits and self.standby.enabled) or self.sampler.is_exhausted():
            return
        if budget_used(self.study) < self.plan.max_trials:
            self.standby.prestart(slot.sticky_variables)

    def _next_resumable(self):
        """(trial, params) of an interrupted trial to continue, or None."""
        if not self.resumable:
            return None
        frozen = self.resumable.pop(0)
        trial = optuna.trial.Trial(self.study, frozen._trial_id)
        return trial, dict(frozen.user_attrs.get(PARAMS_ATTR) or {})

    def _ask_within_budget(self):
        """(trial, params) of the next trial, or None when the budget (shared by every
        worker of the job) is used; counted and asked under one lock."""
        with budget_lock(self.study, self.storage_ref):
            return self._ask_locked()

    def _ask_locked(self):
        if budget_used(self.study) >= self.plan.max_trials or self.sampler.is_exhausted():
            return None
        with warnings.catch_warnings():
            # "heartbeat is supposed to be used with Study.optimize": we beat ourselves
            warnings.simplefilter("ignore", UserWarning)
            trial, params = self.sampler.ask()
        self.heartbeat.beat_now(trial._trial_id)
        return trial, params

    def _fill_group_slot(self, slot: TrialSlot) -> None:
        """Join an open group of nodes, else lead a new trial's group (groups.py)."""
        n_nodes = self.plan.n_nodes
        with budget_lock(self.study, self.storage_ref):
            place = groups.claim_place(self.study, n_nodes)
            asked = None if place is not None else self._ask_locked()
            if asked is not None:
                group = groups.open_group(self.study, asked[0]._trial_id, n_nodes)
                place = groups.GroupPlace(
                    asked[0]._trial_id,
                    asked[0].number,
                    0,
                    group["endpoint"],
                    group["run_id"],
                    n_nodes,
                )
        if asked is not None:
            self._launch(slot, *asked, place=place)
        elif place is not None:
            self._launch_member(slot, place)

    def _launch_member(self, slot: TrialSlot, place: groups.GroupPlace) -> None:
        trial_dir = self.run_dir / "trials" / str(place.number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        process = self._start_process(trial_dir / "spec.json", trial_dir, slot, {}, place)
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

    def _beat(self) -> None:
        """Heartbeats for our trials; trials of lost workers are failed (and logged)."""
        # The leader beats for a group's trial: a dead leader fails it, members follow.
        ours = [r.trial_id for r in self.running.values() if not r.member]
        lost = self.heartbeat.tick(ours + [t._trial_id for t in self.resumable])
        for number in lost:
            if number in self.running:  # ours, yet stale: this worker was stalled too long
                self._stop_trial(self.running[number], "failed", "lost its heartbeat")
            self._write_summary("running")
        if lost and self.plan.n_nodes == 1:  # a lost trial's checkpoint is continued
            with budget_lock(self.study, self.storage_ref):
                recovery.enqueue_continuations(self.study, self.run_dir, lost)

    def _busy_slots(self) -> set[int]:
        return {trial.slot.index for trial in self.running.values()}

    def _check_limits(self) -> None:
        if self.stop_reason is not None:
            return
        if self.cancel_event.is_set():
            self.stop_reason = ("canceled", "canceled (Ctrl-C, SIGTERM or automl job cancel)")
        elif self.plan.timeout_minutes is not None and self._elapsed_minutes() >= float(
            self.plan.timeout_minutes
        ):
            self.stop_reason = (
                "timeout",
                f"the job's limits.timeout_minutes ({self.plan.timeout_minutes}) was reached",
            )

    def _elapsed_minutes(self) -> float:
        if self.join:  # from the job's start, stored with the study by its creator
            return (time.time() - self.started_epoch) / 60.0
        return (time.monotonic() - self.started) / 60.0

    # ---- launching ------------------------------------------------------------------

    def _launch(
        self, slot: TrialSlot, trial, params: dict, place: groups.GroupPlace | None = None
    ) -> None:
        trial_dir = self.run_dir / "trials" / str(trial.number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        try:
            training_parameters = self.resolver(self.job.task, {**self.plan.fixed_params, **params})
        except AutomlError as error:
            self._record_unlaunched(trial, params, f"invalid trial parameters: {error}")
            return
        spec_path = trial_dir / "spec.json"
        resume = trial.number in self.resuming or recovery.adopt_predecessor(self.run_dir, trial)
        spec = self._spec(trial, params, training_parameters, slot, resume)
        write_json_atomic(spec_path, spec)
        process = self._start_process(spec_path, trial_dir, slot, training_parameters, place)
        try:
            trial.set_user_attr(PID_ATTR, trial_record(process.pid, self.identity))
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another worker failed it as lost: this one was stalled past the grace period.
            signal_group(process.pid, signal.SIGKILL)
            logger.warning("trial %d was failed as lost before it started here", trial.number)
            return
        running = RunningTrial(trial.number, trial._trial_id, params, slot, process, trial_dir)
        if self.plan.trial_timeout_minutes is not None:
            running.deadline = running.started + 60.0 * float(self.plan.trial_timeout_minutes)
        if place is not None:
            running.group_deadline = running.started + groups.group_wait_s()
        self.running[trial.number] = running
        logger.debug("trial %d started (pid %d) with %s", trial.number, process.pid, params)
        self._emit({"type": "trial_started", "number": trial.number, "params": params})
        self._write_summary("running")

    def _spec(
        self, trial, params: dict, training_parameters: dict, slot: TrialSlot, resume: bool
    ) -> dict:
        return {
            "version": 1,
            "job_name": self.name,
            "run_dir": str(self.run_dir.resolve()),
            "trial_number": trial.number,
            "trial_dir": str((self.run_dir / "trials" / str(trial.number)).resolve()),
            "task": self.job.task,
            "primary_metric": {"name": self.metric, "goal": "maximize"},
            "log_verbosity": self.job.resolved.get("log_verbosity"),
            "training_parameters": training_parameters,
            "params": params,
            "data": {
                "train_manifest": str(Path(self.data.train_manifest).resolve()),
                "valid_manifest": str(Path(self.data.valid_manifest).resolve()),
                "labels": list(self.data.labels),
            },
            "device": slot.device,
            "n_threads": slot.n_threads,
            "resume": resume,  # continue from checkpoints/last.pt (recovery.py)
            "study": {
                # credentials never reach a file: the trial reads the URL from STORAGE_ENV
                "storage": redact_url(self.storage_ref),
                "study_name": self.name,
                "trial_id": trial._trial_id,
                "pruner": self.pruner_spec,
            },
        }

    def _start_process(
        self,
        spec_path: Path,
        trial_dir: Path,
        slot: TrialSlot,
        parameters,
        place: groups.GroupPlace | None = None,
    ):
        if self.trial_module.endswith(".py"):
            target = [self.trial_module, str(spec_path)]
        else:
            target = ["-m", self.trial_module, str(spec_path)]
        command = [sys.executable, *target]
        devices = slot.cuda_visible_devices
        if place is not None:
            command = _group_command(target, slot, place)
        elif slot.n_gpus > 1 and parameters.get("distributed", True) and _ddp_capable(parameters):
            from automl.engine.training.distributed import torchrun_command

            command = torchrun_command(target, slot.n_gpus)
        elif slot.n_gpus > 1:  # distributed: false uses the first GPU of its slot
            devices = devices.split(",")[0]
        env = self._trial_env(devices, slot)
        log_name = "trial.log" if place is None or place.node_rank == 0 else None
        log_path = trial_dir / (log_name or f"trial.node{place.node_rank}.log")
        if command == [sys.executable, *target]:  # one plain process: a standby can run it
            process = self.standby.hand_over(spec_path, log_path, env)
            if process is not None:
                return process
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its own process group: killed as a whole
            )

    def _trial_env(self, devices: str, slot: TrialSlot) -> dict:
        from automl.engine.training.distributed import clean_launcher_env

        env = {**clean_launcher_env(dict(os.environ)), **slot_variables(devices, slot.n_threads)}
        env.update(controller_marker(self.identity))  # engine/utils/processes.py
        env.pop(STORAGE_ENV, None)
        if is_url(self.storage_ref):
            env[STORAGE_ENV] = self.storage_ref
        return env

    def _record_unlaunched(self, trial, params: dict, error: str) -> None:
        outcome = {**interrupted_outcome(error), "interrupted": False, "duration_s": 0.0}
        record_outcome(self.study, trial._trial_id, outcome)
        self._after_finish(trial.number, params, outcome)

    # ---- polling --------------------------------------------------------------------

    def _poll_running(self) -> None:
        now = time.monotonic()
        for running in list(self.running.values()):
            returncode = running.process.poll()
            if returncode is not None:
                self._finish_trial(running, returncode)
                continue
            if running.kill_at is not None and now >= running.kill_at:
                signal_group(running.process.pid, signal.SIGKILL)
            if now >= running.next_check:
                running.next_check = now + STATUS_POLL_S
                self._check_progress(running)
                self._check_trial_limits(running, now)

    def _check_progress(self, running: RunningTrial) -> None:
        status = _read_json(running.trial_dir / "status.json")
        if not status or status.get("updated_at") == running.progress.get("updated_at"):
            return
        running.progress = status
        keys = (
            "epoch",
            "n_epochs",
            "step",
            "n_steps",
            "train_loss",
            "last_score",
            "best_score",
            "evaluated_epoch",
        )
        event = {"type": "trial_progress", "number": running.number}
        event.update({key: status.get(key) for key in (*keys, "eta_s")})
        self._emit(event)

    def _check_trial_limits(self, running: RunningTrial, now: float) -> None:
        if running.stop_state is not None:
            return
        if running.member:  # the leader applies the limits; a member follows the study
            if groups.is_finished(self.study, running.trial_id):
                self._stop_trial(running, "canceled", "the group's leader finished the trial")
            return
        if running.group_deadline is not None and now >= running.group_deadline:
            self._check_group_formed(running)
        if running.deadline is not None and now >= running.deadline:
            minutes = self.plan.trial_timeout_minutes
            self._stop_trial(running, "timeout", f"limits.trial_timeout_minutes ({minutes})")
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
            self._stop_trial(running, "failed", message)

    def _check_pruning(self, running: RunningTrial, now: float) -> None:
        """The policy also runs here, so a trial that does not stop itself is stopped."""
        frozen = self.study._storage.get_trial(running.trial_id)
        if len(frozen.intermediate_values) > running.n_reports:
            running.n_reports = len(frozen.intermediate_values)
            if running.prune_deadline is None and self.pruner.prune(self.study, frozen):
                running.prune_deadline = now + PRUNE_GRACE_S
        if running.prune_deadline is not None and now >= running.prune_deadline:
            self._stop_trial(running, "pruned", None)

    def _stop_trial(self, running: RunningTrial, state: str, error: str | None) -> None:
        running.stop_state, running.stop_error = state, error
        running.kill_at = time.monotonic() + KILL_GRACE_S
        signal_group(running.process.pid, signal.SIGTERM)

    # ---- finishing trials -----------------------------------------------------------

    def _finish_trial(self, running: RunningTrial, returncode: int) -> None:
        signal_group(running.process.pid, signal.SIGKILL)  # leftovers, e.g. data workers
        del self.running[running.number]
        if running.member:  # the group's leader records the outcome
            logger.info(
                "trial %d: this node's part ended (exit code %d)", running.number, returncode
            )
            self._await_leader(running)
            return
        outcome = self._outcome(running, returncode)
        record_outcome(self.study, running.trial_id, outcome)
        self._after_finish(running.number, running.params, outcome)

    def _await_leader(self, running: RunningTrial) -> None:
        """Wait (bounded) until the leader recorded the trial: a member that left first
        would otherwise see no finished trial and call the job failed."""
        deadline = time.monotonic() + groups.LEADER_RECORD_WAIT_S
        while time.monotonic() < deadline and not self.cancel_event.is_set():
            if groups.is_finished(self.study, running.trial_id):
                return
            self.cancel_event.wait(STATUS_POLL_S)
        logger.warning("trial %d: its leader has not recorded it yet", running.number)

    def _outcome(self, running: RunningTrial, returncode: int) -> dict:
        result = _read_json(running.trial_dir / "result.json") or {}
        duration = round(time.monotonic() - running.started, 3)
        if running.stop_state is not None:
            outcome = outcome_from_result(result, running.stop_state, running.stop_error)
            if running.stop_state == "pruned" and outcome["score"] is None:
                outcome["score"] = self._best_reported(running.trial_id)
            outcome["interrupted"] = running.stop_state == "canceled"
        elif returncode == 0 and result.get("state") in ("complete", "pruned"):
            outcome = outcome_from_result(result, result["state"], None)
            if outcome["state"] == "complete" and outcome["score"] is None:
                outcome.update(state="failed", error="the trial finished without a score")
        else:
            error = result.get("error") or _exit_message(returncode, running.trial_dir)
            outcome = outcome_from_result(result, "failed", error)
        outcome["duration_s"] = duration
        return outcome

    def _best_reported(self, trial_id: int) -> float | None:
        values = reported_values(self.study, self.study._storage.get_trial(trial_id))
        return max(values) if values else None

    def _after_finish(self, number: int, params: dict, outcome: dict) -> None:
        summary = self._write_summary("running")
        best = summary["best_trial"] or {}
        self._log_finished(number, params, outcome, best)
        self._emit(
            {
                "type": "trial_finished",
                "number": number,
                "state": outcome["state"],
                "score": outcome["score"],
                "params": params,
                "duration_s": outcome["duration_s"],
                "error": outcome["error"],
                "log_tail": _log_tail(self.run_dir / "trials" / str(number) / "trial.log"),
                "best_number": best.get("number"),
                "best_score": best.get("score"),
            }
        )
        self._check_failure_streak(summary["trials"])

    def _log_finished(self, number: int, params: dict, outcome: dict, best: dict) -> None:
        best_text = (
            f"best is trial {best['number']} ({best['score']:.4g})" if best else "no best yet"
        )
        state, score = outcome["state"], outcome["score"]
        if state == "complete":
            logger.info(
                "trial %d finished: %s %.4g with %s; %s",
                number,
                self.metric,
                score,
                params,
                best_text,
            )
        elif state == "pruned":
            logger.info(
                "trial %d pruned at epoch %s: %s %s with %s; %s",
                number,
                outcome["epochs_completed"],
                self.metric,
                _fmt(score),
                params,
                best_text,
            )
        else:
            # the error may end in hint lines: the best comes first so it never trails them
            logger.warning("trial %d %s (%s): %s", number, state, best_text, outcome["error"])

    def _check_failure_streak(self, rows: list[dict]) -> None:
        """Stop when the first trials all failed with the same error: the rest would too."""
        done = [r for r in rows if r["state"] not in ("running", "canceled")]
        if any(r["state"] in ("complete", "pruned") for r in done):
            return
        streak = min(FAILURE_STREAK, self.plan.max_trials)
        errors = {_error_signature(r["error"]) for r in done[:streak] if r["state"] == "failed"}
        if len(done) >= streak and len(errors) == 1 and self.stop_reason is None:
            error = errors.pop()
            message = (
                f"its trial failed: {error}"
                if streak == 1
                else f"the first {streak} trials all failed with the same error: {error}"
            )
            self.stop_reason = ("failed", message)

    def _stop_all(self) -> None:
        """Stop every running trial (SIGTERM, then SIGKILL after a grace period)."""
        kind, message = self.stop_reason
        state = "canceled"
        for running in self.running.values():
            if running.stop_state is None:
                running.stop_state, running.stop_error = state, f"stopped: {message}"
            signal_group(running.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_S
        while self.running:
            for running in list(self.running.values()):
                returncode = running.process.poll()
                if returncode is not None:
                    self._finish_trial(running, returncode)
                elif time.monotonic() >= deadline:
                    signal_group(running.process.pid, signal.SIGKILL)
            time.sleep(self.poll_interval_s)

    def _kill_all_now(self) -> None:
        for running in self.running.values():
            signal_group(running.process.pid, signal.SIGKILL)

    # ---- the job record -------------------------------------------------------------

    def _write_summary(self, status: str, **extra: Any) -> dict:
        live = {n: r.live_info() for n, r in self.running.items()}
        rows = trial_rows(self.study.get_trials(deepcopy=False), live)
        return self.writer.write(rows, status, storage=redact_url(self.storage_ref), **extra)

    def _finish(self) -> dict:
        rows = trial_rows(self.study.get_trials(deepcopy=False), {})
        status, error = self._final_status(rows)
        if self.join and status == "completed" and any(r["state"] == "running" for r in rows):
            status = "running"  # other workers still run trials; the last one completes it
        summary = self.writer.write(
            rows,
            status,
            storage=redact_url(self.storage_ref),
            error=error,
            finished_at=utc_now(),
        )
        self.study.set_user_attr(STATUS_ATTR, {"status": status, "error": error})
        try:
            if self.draws_sweep_charts:  # a single trial has its own plots
                write_sweep_plots(self.run_dir, rows, self.study, self.metric)
        except (OSError, ValueError, RuntimeError) as plot_error:  # plots never fail a job
            logger.warning("sweep plots skipped: %s", plot_error)
        best = summary["best_trial"] or {}
        logger.info("job %s %s", self.name, status)  # its error is the CLI's one error line
        self._emit(
            {
                "type": "job_finished",
                "status": status,
                "best_number": best.get("number"),
                "best_score": best.get("score"),
            }
        )
        if status == "canceled":
            raise CanceledError(
                f"job {self.name} canceled; its finished trials are kept in {self.run_dir}",
                hint=f"continue it with: automl job resume {self.name}",
            )
        return summary

    def _final_status(self, rows: list[dict]) -> tuple[str, str | None]:
        kind, message = self.stop_reason or (None, None)
        if kind == "canceled":
            return "canceled", message
        if any(r["state"] in ("complete", "pruned") for r in rows):
            return "completed", message if kind == "timeout" else None
        if kind is not None:
            return "failed", message
        errors = [r["error"] for r in rows if r["error"]]
        last = f"; the last error: {errors[-1]}" if errors else ""
        return "failed", f"every trial failed{last}"

    def _emit(self, event: dict) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a display bug must not stop a sweep
            logger.exception("event handler failed on %s", event.get("type"))


# ---- helpers --------------------------------------------------------------------------


def _ddp_capable(parameters: dict) -> bool:
    """Our DDP serves the torchvision trainers; Ultralytics models train on one GPU."""
    try:
        from automl.engine.models._yolo import is_yolo_model
    except ImportError:
        return True
    return not is_yolo_model(str(parameters.get("model_name") or ""))


def _group_command(target: list[str], slot: TrialSlot, place: groups.GroupPlace) -> list[str]:
    """torchrun for this node of a multi-node trial (c10d rendezvous at the leader)."""
    from automl.engine.training.distributed import torchrun_command

    return torchrun_command(
        target,
        max(1, slot.n_gpus),
        n_nodes=place.n_nodes,
        rendezvous=place.endpoint,
        run_id=place.run_id,
        # no --node-rank: c10d ignores it (ranks follow the nodes' sorted addresses)
        local_addr=os.environ.get(groups.ADDR_ENV),
        host_store=place.node_rank == 0,
        # the controller's own check (a clearer message) comes first
        join_timeout_s=groups.group_wait_s() + 60,
    )


def _read_json(path: Path) -> dict | None:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _exit_message(returncode: int, trial_dir: Path) -> str:
    log = trial_dir / "trial.log"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        if name == "SIGKILL":  # nothing of ours sends it to a trial that was not stopped
            return (
                "the trial process was killed by SIGKILL, most likely by the system's "
                "out-of-memory killer: lower training_batch_size or max_concurrent_trials "
                f"(the trial's checkpoint, if any, is kept); see {log}"
            )
        return f"the trial process was killed by {name}; see {log}"
    return f"the trial process exited with code {returncode} without a result; see {log}"


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.4g}"


def _error_signature(error: str | None) -> str:
    """The line that names the error: a traceback's last line, an AutomlError's message
    (not its `hint:` line)."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("hint:")] or lines
    return lines[-1] if lines else "unknown error"


def _log_tail(path: Path, n_lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-n_lines:])
