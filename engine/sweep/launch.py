"""Starting and stopping trial processes.

A trial runs as its own process group (`start_new_session`: stopped as a whole, data
workers included), its stdout and stderr in `trials/<n>/trial.log`, with its slot's GPUs
and CPU threads and the controller's identity in its environment (it stops by itself when
the controller dies: engine/utils/processes.py). One plain process may be a standby that
already imported torch (standby.py); a trial with several GPUs in its slot, or a node of a
multi-node trial, runs under torchrun (engine/trials/launch.py). Stopping is SIGTERM to
the group, then SIGKILL after a grace period for the trial to save checkpoints/last.pt.
SIGINT, SIGTERM and SIGHUP of the controller itself cancel the job (`cancel_on_signals`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from automl import schemas
from automl.engine.sweep import groups
from automl.engine.sweep.processes import signal_group
from automl.engine.sweep.slots import TrialSlot
from automl.engine.sweep.standby import StandbyPool
from automl.engine.trials import TrialResult, TrialStatus
from automl.engine.trials.launch import (
    clean_launcher_env,
    slot_variables,
    torchrun_command,
    trial_target,
)
from automl.engine.trials.storage_url import STORAGE_ENV, is_url
from automl.engine.utils.processes import ProcessIdentity, controller_marker

KILL_GRACE_S = 10.0  # SIGTERM -> SIGKILL: time for a trial to save last.pt


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
    progress: TrialStatus = field(default_factory=TrialStatus)
    next_check: float = 0.0
    n_reports: int = 0
    prune_deadline: float | None = None
    stop_state: str | None = None
    stop_error: str | None = None
    stopped_by: str | None = None  # STOPPED_BY_BUDGET: the job's timeout stopped it
    kill_at: float | None = None
    member: bool = False  # a node of another controller's group: the leader records it
    group_deadline: float | None = None  # when a led group must have formed

    @property
    def duration_s(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def live_result(self) -> TrialResult:
        """What the job record shows of it while it runs."""
        return TrialResult(
            "running",
            score=self.progress.best_score,
            epochs_completed=self.progress.epoch or 0,
            duration_s=self.duration_s,
        )

    def stop(self, state: str, error: str | None) -> None:
        """Ask it to stop (SIGTERM); it is killed KILL_GRACE_S later if still running."""
        self.stop_state, self.stop_error = state, error
        self.kill_at = time.monotonic() + KILL_GRACE_S
        signal_group(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        signal_group(self.process.pid, signal.SIGKILL)


class TrialLauncher:
    """Starts the trial processes of one controller (module, standby pool, identity)."""

    def __init__(
        self,
        trial_module: str,
        standby: StandbyPool,
        identity: ProcessIdentity,
        storage_ref: str,
    ) -> None:
        self.trial_module = trial_module
        self.standby = standby
        self.identity = identity
        self.storage_ref = storage_ref
        self.extra_env: dict[str, str] = {}  # e.g. the real MLflow URI (sweep/tracking.py)

    def start(
        self,
        spec_path: Path,
        slot: TrialSlot,
        parameters: dict,
        place: groups.GroupPlace | None = None,
    ) -> subprocess.Popen:
        """The trial of `spec_path` started in `slot` (`place`: this node's part of a
        multi-node trial), its output appended to the trial folder's log."""
        target = trial_target(self.trial_module, str(spec_path))
        command, devices = self._command(target, slot, parameters, place)
        env = self.environment(devices, slot)
        log_path = spec_path.parent / _log_name(place)
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

    def _command(
        self, target: list[str], slot: TrialSlot, parameters: dict, place
    ) -> tuple[list[str], str]:
        """(command, CUDA_VISIBLE_DEVICES) of a trial in `slot`."""
        devices = slot.cuda_visible_devices
        if place is not None:
            return group_command(target, slot, place), devices
        if slot.n_gpus > 1 and parameters.get("distributed", True) and ddp_capable(parameters):
            return torchrun_command(target, slot.n_gpus), devices
        if slot.n_gpus > 1:  # distributed: false uses the first GPU of its slot
            devices = devices.split(",")[0]
        return [sys.executable, *target], devices

    def environment(self, devices: str, slot: TrialSlot) -> dict:
        """The trial's environment: ours without launcher variables, the slot's sticky
        variables, the controller's identity, and the real storage URL (never in files)."""
        env = {**clean_launcher_env(dict(os.environ)), **slot_variables(devices, slot.n_threads)}
        env.update(controller_marker(self.identity))  # engine/utils/processes.py
        env.pop(STORAGE_ENV, None)
        env.update(self.extra_env)
        if is_url(self.storage_ref):
            env[STORAGE_ENV] = self.storage_ref
        return env


def _log_name(place: groups.GroupPlace | None) -> str:
    """trial.log, or trial.node<rank>.log for a member node of a multi-node trial."""
    if place is None or place.node_rank == 0:
        return "trial.log"
    return f"trial.node{place.node_rank}.log"


def ddp_capable(parameters: dict) -> bool:
    """Our DDP serves the torchvision trainers; Ultralytics models train on one GPU
    (models.json's family key `distributed`, read without importing torch)."""
    return schemas.family_distributed(str(parameters.get("model_name") or ""))


def group_command(target: list[str], slot: TrialSlot, place: groups.GroupPlace) -> list[str]:
    """torchrun for this node of a multi-node trial (c10d rendezvous at the leader)."""
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


@contextlib.contextmanager
def cancel_on_signals(event: threading.Event) -> Iterator[None]:
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
