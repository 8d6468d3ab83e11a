"""The processes of a job: how each trial's is recorded, and stopping what a killed
controller left running.

Every process a controller starts (trials, standby processes, torchrun and its ranks, and
their data-loader workers) carries the controller's identity token in its environment
(CONTROLLER_ENV, engine/utils/processes.py) and stops by itself within seconds of the
controller's death. `automl job resume` still looks before it starts anything: a trial
that is saving its checkpoint, or one on a platform without a parent-death signal, may
outlive its controller briefly, and two trials writing one trial folder would corrupt it.

A trial's record in the study (attrs.PID_ATTR): its PID with start time and host (the
identity), the PID of its controller (`worker_pid`) and the controller's token.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable

from automl.engine.utils.processes import (
    ProcessIdentity,
    marked_processes,
    signal_group,
    stop_processes,
)

logger = logging.getLogger("automl.sweep")

__all__ = ["left_by_dead_controller", "signal_group", "stop_leftovers", "trial_record"]


def trial_record(pid: int, controller: ProcessIdentity) -> dict:
    """What the study keeps about a launched trial process (PID_ATTR)."""
    identity = ProcessIdentity.of(pid)  # our unreaped child: its PID cannot be reused yet
    return {
        "pid": pid,
        "started": identity.started if identity else "",
        "host": socket.gethostname(),
        "worker_pid": controller.pid,
        "controller": controller.token,
    }


def left_by_dead_controller(record: dict, heartbeats: bool) -> bool:
    """Whether a RUNNING trial with this PID_ATTR record was left by a controller that is
    gone. On another host only the storage's heartbeats can tell (heartbeat.py): without
    them (a journal file) such a trial counts as left, as it always did."""
    host = record.get("host")
    if host and host != socket.gethostname():
        return not heartbeats
    controller = ProcessIdentity.from_token(record.get("controller") or "")
    return controller is None or not controller.is_alive()


def stop_leftovers(tokens: Iterable[str], records: Iterable[dict] = ()) -> list[int]:
    """Stop every process marked with one of `tokens` (dead controllers' children) and the
    trial processes of `records` that still run; return the PIDs found."""
    pids = set(marked_processes(tokens))
    for record in records:  # the way to find a trial where /proc has no environments
        identity = ProcessIdentity.from_json(record)
        if identity is not None and identity.is_alive():
            pids.add(identity.pid)
    if not pids:
        return []
    found = sorted(pids)
    logger.warning(
        "stopping %d process(es) left running by the job's stopped controller: pid %s",
        len(found),
        ", ".join(map(str, found)),
    )
    left = stop_processes(found)
    if left:
        logger.warning("could not stop pid %s", ", ".join(map(str, left)))
    return found
