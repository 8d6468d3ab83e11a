"""Node groups: one trial over several machines (`properties.node_count_per_trial: N`).

Every controller of the job (its creator and the workers joined to it) is one node. A node
with nothing to run takes, under the job's budget lock (storage.budget_lock), either a free
place in an open group or a new trial that it leads:

- the leader asks the trial, picks its host and a free port and publishes them with a
  rendezvous id in the trial's user attrs (GROUP_ATTR), then starts torchrun with
  `--nnodes N` and the c10d rendezvous at that `host:port`;
- a member claims the lowest free node rank of an open group (NODE_ATTR_PREFIX + rank)
  and starts torchrun with the same endpoint and id, from the trial's spec.json that the
  leader wrote to the shared run directory.

The leader records the trial's outcome; members only run their part. torch's c10d
rendezvous gives global rank 0 to the node whose address sorts first, so rank 0 may run on
any node of the group: every node writes to the shared run directory and reports to the
shared study, so the files are the same wherever it runs. A group that does not fill
within the wait (AUTOML_GROUP_WAIT_S, default 600 s) fails its trial with a clear error;
a node that dies breaks the trial's collectives, the trial fails, and the next trial forms
a new group from the nodes still working.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

from optuna.trial import TrialState

from automl.engine.errors import ConfigError
from automl.engine.sweep import storage
from automl.engine.sweep.attrs import GROUP_ATTR, NODE_ATTR_PREFIX

logger = logging.getLogger("automl.sweep")

WAIT_ENV = "AUTOML_GROUP_WAIT_S"
ADDR_ENV = "AUTOML_NODE_ADDR"  # this machine's address as the other nodes reach it
DEFAULT_WAIT_S = 600.0
LEADER_RECORD_WAIT_S = 60.0  # a member's wait for the leader to record the trial


@dataclass(frozen=True)
class GroupPlace:
    """This node's place in one trial's group."""

    trial_id: int
    number: int
    node_rank: int
    endpoint: str
    run_id: str
    n_nodes: int


def node_count(job) -> int:
    """`properties.node_count_per_trial` as an integer (1 when absent)."""
    properties = (getattr(job, "resolved", None) or {}).get("properties") or (
        (getattr(job, "raw", None) or {}).get("properties") or {}
    )
    raw = properties.get("node_count_per_trial")
    if raw is None or str(raw).strip() == "":
        return 1
    try:
        count = int(str(raw).strip())
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(
            f"properties.node_count_per_trial: {raw!r} is not a positive whole number",
            issues=[f"node_count_per_trial must be a count of machines like '2'; got {raw!r}"],
        )
    return count


def group_wait_s() -> float:
    """How long a group may take to form (seconds)."""
    raw = os.environ.get(WAIT_ENV)
    try:
        return float(raw) if raw else DEFAULT_WAIT_S
    except ValueError:
        raise ConfigError(
            f"environment {WAIT_ENV}={raw!r}: expected a number of seconds",
            issues=[f"{WAIT_ENV} must be a number like 600"],
        ) from None


def node_address() -> str:
    """This machine's address for the rendezvous: AUTOML_NODE_ADDR, else its host name."""
    return os.environ.get(ADDR_ENV) or socket.gethostname()


def node_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def free_port() -> int:
    """A port free now; torchrun binds it moments later (a small race, retried by users)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def open_group(study, trial_id: int, n_nodes: int) -> dict:
    """Publish a new group for `trial_id`, led by this node (call under the budget lock)."""
    group = {
        "endpoint": f"{node_address()}:{free_port()}",
        "run_id": f"automl-{uuid.uuid4().hex[:12]}",
        "n_nodes": n_nodes,
        "leader": node_id(),
        "opened_at": time.time(),
    }
    storage.set_trial_attr(study, trial_id, GROUP_ATTR, group)
    return group


def claim_place(study, n_nodes: int, wait_s: float | None = None) -> GroupPlace | None:
    """Join the oldest open group that still has a free node rank (under the budget lock)."""
    wait_s = group_wait_s() if wait_s is None else wait_s
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        group = trial.user_attrs.get(GROUP_ATTR)
        if not group or time.time() - float(group["opened_at"]) > wait_s:
            continue
        free = [r for r in range(1, n_nodes) if f"{NODE_ATTR_PREFIX}{r}" not in trial.user_attrs]
        if not free:
            continue
        key = f"{NODE_ATTR_PREFIX}{free[0]}"
        joined = {"node": node_id(), "joined_at": time.time()}
        storage.set_trial_attr(study, storage.trial_id(trial), key, joined)
        return GroupPlace(
            storage.trial_id(trial),
            trial.number,
            free[0],
            group["endpoint"],
            group["run_id"],
            n_nodes,
        )
    return None


def members_joined(study, trial_id: int, n_nodes: int) -> int:
    """How many members (besides the leader) have claimed a place in the trial's group."""
    attrs = storage.frozen_trial(study, trial_id).user_attrs
    return sum(f"{NODE_ATTR_PREFIX}{r}" in attrs for r in range(1, n_nodes))


def group_timeout_message(number: int, joined: int, n_nodes: int, wait_s: float) -> str:
    """Why a trial whose group did not form failed, and what to do."""
    return (
        f"trial {number}: its group of {n_nodes} nodes (properties.node_count_per_trial) did "
        f"not form within {wait_s:g} s: {joined + 1} of {n_nodes} joined; start "
        f"{n_nodes - 1 - joined} more worker(s) with 'automl job worker NAME --storage URL' "
        f"on machines that reach this one, or raise {WAIT_ENV}"
    )
