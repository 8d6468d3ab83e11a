"""Which process is which, and processes that end with the one that started them.

A PID alone names a process only while it lives: after it exits the kernel hands the number
to the next process started. So a process is named by its `ProcessIdentity`: PID, start
time and host. On Linux the start time is the boot id plus the start tick from
/proc/PID/stat (unique per boot, and the boot id tells boots apart); elsewhere it is what
`ps -o lstart=` prints. A recorded identity is alive only while a process with that PID
and that start time runs on this host.

Children of a job controller carry its identity in their environment (CONTROLLER_ENV):
trials, standby processes, torchrun and its ranks, data-loader workers. So a later
`automl job resume` finds every left-over of a killed controller by reading
/proc/PID/environ (which shows the environment a process was started with), whatever its
command line says, and each such child stops itself once its controller is gone
(`stop_when_controller_gone`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("automl.processes")

CONTROLLER_ENV = "AUTOML_CONTROLLER"  # the identity token of the controller of a child
WATCH_INTERVAL_S = 1.0  # how often a child checks that its controller still runs
STOP_GRACE_S = 10.0  # SIGTERM -> SIGKILL: time for a trial to save checkpoints/last.pt
PROC = Path("/proc")
_PROC_READ_BYTES = 1 << 20  # /proc files are the kernel's; still, never read without end
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as it can be recognised later: PID, start time (see module doc), host."""

    pid: int
    started: str
    host: str

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls(os.getpid(), start_time(os.getpid()) or "", socket.gethostname())

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the live process `pid` on this host, or None when none runs."""
        started = start_time(pid)
        return None if started is None else cls(pid, started, socket.gethostname())

    @property
    def token(self) -> str:
        """One string for the environment marker: `PID:STARTED@HOST`."""
        return f"{self.pid}:{self.started}@{self.host}"

    @classmethod
    def from_token(cls, token: str) -> ProcessIdentity | None:
        head, at, host = str(token).rpartition("@")
        pid, colon, started = head.partition(":")
        if not (at and colon and pid.isdigit()):
            return None
        return cls(int(pid), started, host)

    def to_json(self) -> dict:
        return {"pid": self.pid, "started": self.started, "host": self.host}

    @classmethod
    def from_json(cls, record: dict) -> ProcessIdentity | None:
        try:
            return cls(int(record["pid"]), str(record["started"]), str(record["host"]))
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """True while this very process runs (same host, same PID, same start time; where
        no start time could be read, the PID is all there is to check)."""
        if not (self.on_this_host and self.pid > 0):
            return False
        if not self.started:
            return _pid_exists(self.pid)
        return start_time(self.pid) == self.started


def start_time(pid: int) -> str | None:
    """When process `pid` started, as a string that differs between two processes that
    held the same PID; None when no such process runs (a zombie counts as gone)."""
    if PROC.is_dir():
        return _proc_start_time(pid)
    return _ps_start_time(pid)


def _proc_start_time(pid: int) -> str | None:
    text = _read_proc(f"{pid}/stat")
    if text is None:
        return None
    # comm (field 2) may hold spaces and parentheses: the fields after it follow the last ')'
    fields = text.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return f"{boot_id()}-{fields[19]}"  # field 22, starttime (clock ticks after boot)


def _ps_start_time(pid: int) -> str | None:
    if not _pid_exists(pid):
        return None
    try:
        done = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def boot_id() -> str:
    return (_read_proc("sys/kernel/random/boot_id") or "").strip()


def command_line(pid: int) -> list[str] | None:
    """The argv of process `pid` (Linux), or None when it cannot be read."""
    text = _read_proc(f"{pid}/cmdline")
    return None if text is None else text.rstrip("\0").split("\0")


def _read_proc(relative: str) -> str | None:
    try:
        with open(PROC / relative, "rb") as handle:
            return handle.read(_PROC_READ_BYTES).decode("utf-8", errors="replace")
    except OSError:  # gone, not ours, or no /proc
        return None


# ---- finding and stopping marked processes ----------------------------------------------


def controller_marker(identity: ProcessIdentity | None = None) -> dict[str, str]:
    """The environment entry that marks a child of this controller (module doc)."""
    return {CONTROLLER_ENV: (identity or ProcessIdentity.current()).token}


def marked_processes(tokens: Iterable[str]) -> list[int]:
    """PIDs of this user's live processes started with CONTROLLER_ENV set to one of
    `tokens` (Linux; [] elsewhere). Neither this process nor its ancestors are listed."""
    wanted = {f"{CONTROLLER_ENV}={token}" for token in tokens if token}
    if not wanted or not PROC.is_dir():
        return []
    spared = _ancestors()
    found = []
    for entry in os.listdir(PROC):
        if not entry.isdigit() or int(entry) in spared:
            continue
        environ = _read_proc(f"{entry}/environ")
        if environ and wanted.intersection(environ.split("\0")):
            found.append(int(entry))
    return found


def _ancestors() -> set[int]:
    pids, pid = {os.getpid()}, os.getppid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        text = _read_proc(f"{pid}/stat")
        fields = text.rpartition(")")[2].split() if text else []
        pid = int(fields[1]) if len(fields) > 1 else 0
    return pids


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group of `pid` (a trial started in its own session: its PID is
    its group id); with SIGKILL also the groups of its descendants that lead sessions of
    their own (torchrun starts each rank so: the launcher's group alone would leave them)."""
    if sig == signal.SIGKILL:
        for child in descendant_session_leaders(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def descendant_session_leaders(pid: int) -> list[int]:
    """Session leaders among the live descendants of `pid` (Linux /proc; [] elsewhere)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            tasks = os.listdir(PROC / str(parent) / "task")
        except OSError:
            continue
        for task in tasks:
            text = _read_proc(f"{parent}/task/{task}/children") or ""
            children = [int(word) for word in text.split()]
            queue += children
            found += [child for child in children if _is_session_leader(child)]
    return found


def _is_session_leader(pid: int) -> bool:
    try:
        return os.getsid(pid) == pid
    except OSError:
        return False


def stop_processes(pids: list[int], grace_s: float | None = None) -> list[int]:
    """SIGTERM each process (a trial saves last.pt), SIGKILL what is left after `grace_s`
    (STOP_GRACE_S); return the PIDs that are still there after that (normally none)."""
    identities = [identity for identity in map(ProcessIdentity.of, pids) if identity]
    for identity in identities:
        _signal_one(identity.pid, signal.SIGTERM)
    alive = _wait_gone(identities, STOP_GRACE_S if grace_s is None else grace_s)
    for identity in alive:
        _signal_one(identity.pid, signal.SIGKILL)
    return [identity.pid for identity in _wait_gone(alive, 5.0)]


def _signal_one(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _wait_gone(identities: list[ProcessIdentity], timeout_s: float) -> list[ProcessIdentity]:
    deadline = time.monotonic() + timeout_s
    alive = [identity for identity in identities if identity.is_alive()]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [identity for identity in alive if identity.is_alive()]
    return alive


def send_signal_verified(identity: ProcessIdentity, sig: int) -> bool:
    """Signal the process of `identity` only if it still is that process; False if not.

    Through a pidfd (Linux 5.3+) the check and the signal reach the same process even if
    it exits in between and its PID is reused; elsewhere the window between the check and
    the signal is two system calls wide.
    """
    with _pidfd(identity.pid) as fd:
        if not identity.is_alive():
            return False
        try:
            if fd is None:
                os.kill(identity.pid, sig)
            else:
                signal.pidfd_send_signal(fd, sig)
        except ProcessLookupError:
            return False
        return True


@contextlib.contextmanager
def _pidfd(pid: int) -> Iterator[int | None]:
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfds here, or the process is gone
        fd = None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


# ---- the child's side: stop when the controller is gone ---------------------------------

_watching = threading.Event()  # this process watches its controller already
_lost = threading.Event()  # and has found it gone


TRIAL_AFTER_LOSS = "`automl job resume` continues an interrupted trial from checkpoints/last.pt"


def stop_when_controller_gone(
    interval_s: float = WATCH_INTERVAL_S,
    grace_s: float = STOP_GRACE_S,
    then: str = TRIAL_AFTER_LOSS,
) -> bool:
    """Make this child of a controller (CONTROLLER_ENV set) stop soon after it dies.

    Two mechanisms, because neither alone covers every case:
    - Linux: prctl(PR_SET_PDEATHSIG): the kernel signals this process the moment its
      parent exits, even by SIGKILL. It follows the parent only (for a torchrun rank,
      torchrun), and is armed after the fork, so a parent that died first is missed.
    - Everywhere: a thread that checks every `interval_s` that the parent is unchanged and
      that the controller (its recorded identity, so a reused PID does not fool it) runs.
    Either logs why and sends this process SIGTERM (a trial saves checkpoints/last.pt and
    exits 130, an idle standby exits); what is still there `grace_s` later is killed, with
    its process group if it leads one. `then`: what the log line tells the user to do next.
    Returns False when there is no controller to watch or this process watches already.
    """
    controller = ProcessIdentity.from_token(os.environ.get(CONTROLLER_ENV, ""))
    if controller is None or _watching.is_set():
        return False
    _watching.set()
    parent = os.getppid()

    def on_lost() -> None:
        _controller_lost(controller, grace_s, then)

    _arm_parent_death(on_lost)
    thread = threading.Thread(
        target=_watch,
        args=(controller, parent, interval_s, on_lost),
        name="automl-controller-watch",
        daemon=True,
    )
    thread.start()
    return True


def _arm_parent_death(on_lost) -> None:
    """The parent-death signal is SIGUSR1, whose handler says why before it stops the
    process; SIGTERM where no handler can be set (not the main thread, no SIGUSR1)."""
    sig = signal.SIGTERM
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda signum, frame: on_lost())
        sig = signal.SIGUSR1
    arm_parent_death_signal(sig)


def arm_parent_death_signal(sig: int) -> bool:
    """prctl(PR_SET_PDEATHSIG, sig) through libc (Linux only); False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(controller: ProcessIdentity, parent: int, interval_s: float, on_lost) -> None:
    while os.getppid() == parent and controller.is_alive():
        time.sleep(interval_s)
    on_lost()


def _controller_lost(controller: ProcessIdentity, grace_s: float, then: str) -> None:
    if _lost.is_set():
        return
    _lost.set()
    logger.warning(
        "the controller of this process (pid %d) is gone: stopping; %s", controller.pid, then
    )
    os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=_kill_after, args=(grace_s,), daemon=True).start()


def _kill_after(grace_s: float) -> None:
    time.sleep(grace_s)
    # A trial or standby leads its own process group (its data-loader workers are in it);
    # anything else kills only itself.
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
