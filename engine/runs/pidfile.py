"""controller.pid: the process that runs a job's controller, recorded so that it is
recognised again before anything signals it or calls the job running.

The record holds the PID with the process's start time and host (ProcessIdentity,
engine/utils/processes.py), its command line, and the token its children carry in their
environment. A PID whose start time or command line differs belongs to another process
now: the job is not running, and `job cancel` signals nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.utils.files import write_json_atomic
from automl.engine.utils.processes import ProcessIdentity, command_line, send_signal_verified

CONTROLLER_PID_FILE = "controller.pid"
_MAX_RECORD_BYTES = 64 * 1024  # a record is ~300 bytes: anything larger is not ours


def write_controller_pid(run_dir: Path) -> None:
    identity = ProcessIdentity.current()
    argv = command_line(os.getpid()) or list(sys.orig_argv)
    write_json_atomic(
        Path(run_dir) / CONTROLLER_PID_FILE,
        {**identity.to_json(), "argv": argv, "token": identity.token},
    )


def clear_controller_pid(run_dir: Path) -> None:
    """Remove the record if it is this process's (a second controller never wrote one)."""
    record = read_controller_record(run_dir) or {}
    if record.get("token") == ProcessIdentity.current().token:
        (Path(run_dir) / CONTROLLER_PID_FILE).unlink(missing_ok=True)


def read_controller_record(run_dir: Path) -> dict | None:
    """The record as written; a bare PID (older versions) reads as {"pid": PID}."""
    try:
        with open(Path(run_dir) / CONTROLLER_PID_FILE, "rb") as handle:
            text = handle.read(_MAX_RECORD_BYTES).decode("utf-8", errors="replace").strip()
    except OSError:
        return None
    if text.isdigit():
        return {"pid": int(text)}
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def controller_pid(run_dir: Path) -> int | None:
    record = read_controller_record(run_dir) or {}
    pid = record.get("pid")
    return pid if isinstance(pid, int) else None


def controller_token(run_dir: Path) -> str | None:
    """The environment token of the recorded controller's children (None: none recorded)."""
    token = (read_controller_record(run_dir) or {}).get("token")
    return token if isinstance(token, str) else None


def controller_alive(run_dir: Path) -> bool:
    """True while the recorded controller runs; one on another host counts as running
    (it cannot be checked from here)."""
    record = read_controller_record(run_dir)
    if record is None:
        return False
    identity = ProcessIdentity.from_json(record)
    if identity is None:
        return _legacy_alive(record)
    if not identity.on_this_host:
        return True
    return identity.is_alive() and _same_command(record)


def _same_command(record: dict) -> bool:
    recorded, now = record.get("argv"), command_line(int(record["pid"]))
    return recorded is None or now is None or list(recorded) == now


def _legacy_alive(record: dict) -> bool:
    """A bare PID: running if that process is an automl command (best effort)."""
    pid = record.get("pid")
    argv = command_line(pid) if isinstance(pid, int) else None
    return bool(argv) and any("automl" in part for part in argv)


def cancel_run(run_dir: Path, wait_s: float = 30.0) -> bool:
    """Ask a running job's controller to stop (SIGTERM) once it is verified to be that
    controller; True once it has stopped."""
    record = read_controller_record(run_dir)
    identity = ProcessIdentity.from_json(record or {})
    _check_cancelable(run_dir, record, identity)
    if not send_signal_verified(identity, signal.SIGTERM):
        raise _not_running(run_dir, record)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not controller_alive(run_dir):
            return True
        time.sleep(0.2)
    return False


def _check_cancelable(run_dir: Path, record: dict | None, identity) -> None:
    if record is not None and identity is None and "pid" in record:
        pid = record["pid"]
        raise AutomlError(
            f"{Path(run_dir) / CONTROLLER_PID_FILE} holds only PID {pid} (written by an older "
            "version), so it cannot be verified to be this job's controller: not signalled",
            hint=f"if 'ps -p {pid} -o args' shows this job's automl command, stop it with "
            f"'kill {pid}'",
        )
    if identity is not None and not identity.on_this_host:
        raise AutomlError(
            f"job at {run_dir} runs on host {identity.host} (pid {identity.pid}), not here",
            hint=f"run 'automl job cancel' on {identity.host}",
        )
    if identity is None or not controller_alive(run_dir):
        raise _not_running(run_dir, record)


def _not_running(run_dir: Path, record: dict | None) -> AutomlError:
    gone = f" (its controller, pid {record['pid']}, is gone)" if record and "pid" in record else ""
    return AutomlError(
        f"job at {run_dir} is not running{gone}",
        hint="'automl job show' tells its status; 'automl job resume' continues it",
    )
