"""How a trial process is started: its module, its command (plain or torchrun), and the
environment it gets from the process that starts it.

A trial is `[python, -m, TRIAL_MODULE, spec.json]`, or that target under torchrun
(`python -m torch.distributed.run`), one process per GPU. Its slot's sticky variables
(GPUs, CPU threads: `slot_variables`) act when a library loads, so they are set when the
process starts; launcher variables of the starting process (a worker started by srun or
torchrun) are removed (`clean_launcher_env`). Light on purpose: no torch, no optuna.
"""

from __future__ import annotations

import os
import sys

TRIAL_MODULE = "automl.engine.training.trial"  # what `automl job create` runs per trial
TORCHRUN_MODULE = "torch.distributed.run"
STICKY_VARIABLES = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
LAUNCHER_VARIABLES = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_LOCALID",
)


def trial_target(trial_module: str, spec_path: str) -> list[str]:
    """What follows `python` to run a trial: `-m MODULE SPEC`, or `FILE.py SPEC`."""
    if trial_module.endswith(".py"):
        return [trial_module, spec_path]
    return ["-m", trial_module, spec_path]


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity (taskset, container cpusets, batch
    schedulers' allocations), not every core of the machine; os.cpu_count() elsewhere."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS)
        return os.cpu_count() or 1


def cpu_threads_per_slot(n_slots: int) -> int:
    """The CPU threads each of `n_slots` concurrent trials gets (the usable cores split
    evenly): more threads than cores make OpenMP's threads wait on each other."""
    return max(1, usable_cpus() // n_slots)


def slot_variables(devices: str, n_threads: int) -> dict[str, str]:
    """The sticky variables of a trial slot: its GPUs ("" for CPU) and its CPU threads."""
    return {
        "CUDA_VISIBLE_DEVICES": devices,
        "OMP_NUM_THREADS": str(n_threads),
        "MKL_NUM_THREADS": str(n_threads),
    }


def clean_launcher_env(env: dict) -> dict:
    """A child's environment without the launcher variables of the process that starts
    it (a worker started by srun or torchrun must not make its trials think they are
    ranks of the worker's own group)."""
    return {key: value for key, value in env.items() if key not in LAUNCHER_VARIABLES}


def torchrun_command(
    target: list[str],
    n_processes: int,
    *,
    n_nodes: int = 1,
    rendezvous: str | None = None,
    run_id: str | None = None,
    node_rank: int | None = None,
    local_addr: str | None = None,
    host_store: bool | None = None,
    join_timeout_s: float | None = None,
) -> list[str]:
    """[python, -m, torch.distributed.run, ..., *target]: one process per GPU.

    One node: `--standalone` (a private rendezvous on a free port). Several nodes: c10d
    rendezvous at `rendezvous` (host:port), all nodes with the same `run_id`; the node that
    `host_store`s serves the rendezvous store, `join_timeout_s` bounds the wait for the
    others, `local_addr` is this node's address as the others reach it.
    """
    command = [sys.executable, "-m", TORCHRUN_MODULE, f"--nproc-per-node={n_processes}"]
    if n_nodes <= 1:
        return [*command, "--standalone", *target]
    command += [
        f"--nnodes={n_nodes}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={rendezvous}",
        f"--rdzv-id={run_id}",
        "--max-restarts=0",
    ]
    if node_rank is not None:
        command.append(f"--node-rank={node_rank}")
    if local_addr:
        command.append(f"--local-addr={local_addr}")
    conf = _rendezvous_conf(host_store, join_timeout_s)
    if conf:
        command.append(f"--rdzv-conf={conf}")
    return [*command, *target]


def _rendezvous_conf(host_store: bool | None, join_timeout_s: float | None) -> str:
    conf = []
    if host_store is not None:
        conf.append(f"is_host={int(host_store)}")
    if join_timeout_s is not None:
        conf.append(f"join_timeout={int(join_timeout_s)}")
    return ",".join(conf)
