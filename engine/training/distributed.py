"""Trials over several processes (GPUs, or machines) with torch.distributed and DDP.

A distributed trial is the same trial module started once per GPU by torchrun
(`python -m torch.distributed.run`), which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR
and MASTER_PORT; processes started by SLURM's `srun` (SLURM_PROCID, SLURM_NTASKS,
SLURM_LOCALID, with MASTER_ADDR/MASTER_PORT from the batch script) are honoured the same
way. Backend: NCCL on CUDA, gloo on CPU. How trials are started (the torchrun command, a
clean environment) is the trial contract's: engine/trials/launch.py.

Contract (see trial.py): every rank trains its shard of the training set (a
DistributedSampler; `training_batch_size` is per process, so the global batch is
training_batch_size x processes x gradient_accumulation_step); rank 0 alone evaluates,
reports to the study, and writes metrics.jsonl, status.json, checkpoints, outputs/ and
result.json; its prune and early-stopping decisions are broadcast to every rank after each
epoch, so all ranks stop at the same epoch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from automl.engine.errors import TrialError

if TYPE_CHECKING:  # torch is imported where used
    from torch import nn

logger = logging.getLogger("automl.training")

# Rank 0 evaluates while the others wait at the next collective: allow long validations.
COLLECTIVE_TIMEOUT = timedelta(minutes=60)
FINAL_BARRIER_TIMEOUT = timedelta(minutes=10)  # rank 0 writing the model package


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in its trial's process group (1 process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_current = DistributedContext()


def launcher_context(env: dict | None = None) -> DistributedContext:
    """The context that torchrun (RANK...) or srun (SLURM_PROCID...) describe."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "RANK" in env:
        return DistributedContext(
            _int(env, "RANK"), _int(env, "WORLD_SIZE"), _int(env, "LOCAL_RANK", "0")
        )
    if "SLURM_NTASKS" in env and "SLURM_PROCID" in env:
        return DistributedContext(
            _int(env, "SLURM_PROCID"), _int(env, "SLURM_NTASKS"), _int(env, "SLURM_LOCALID", "0")
        )
    return DistributedContext()


def _int(env, name: str, default: str | None = None) -> int:
    raw = env.get(name, default)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise TrialError(f"environment {name}={raw!r}: expected an integer") from None


def current() -> DistributedContext:
    """This process's context (rank 0 of 1 until `init_distributed`)."""
    return _current


def is_main() -> bool:
    return _current.is_main


def init_distributed(device_name: str) -> DistributedContext:
    """Join the trial's process group when a launcher started several processes."""
    global _current
    context = launcher_context()
    if not context.is_distributed:
        _current = context
        return context
    import torch.distributed as dist

    _export_slurm_ranks(context)
    if device_name == "cuda":
        import torch

        torch.cuda.set_device(context.local_rank)
    backend = "nccl" if device_name == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    _current = context
    logger.info("distributed trial: rank %d of %d (%s)", context.rank, context.world_size, backend)
    return context


def _export_slurm_ranks(context: DistributedContext) -> None:
    """torch's env:// rendezvous reads RANK/WORLD_SIZE/MASTER_*: fill them from SLURM."""
    os.environ.setdefault("RANK", str(context.rank))
    os.environ.setdefault("WORLD_SIZE", str(context.world_size))
    os.environ.setdefault("LOCAL_RANK", str(context.local_rank))
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise TrialError(
            f"a distributed trial (world size {context.world_size}) needs "
            f"{' and '.join(missing)} in the environment",
            hint="start trials with torchrun, or export MASTER_ADDR (the first node's host) "
            "and MASTER_PORT (a free port) in the SLURM batch script",
        )


def shutdown() -> None:
    """Leave the process group (at the end of the trial, whatever its outcome)."""
    global _current
    if _current.is_distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            _wait_for_other_nodes(dist)
            dist.destroy_process_group()
    _current = DistributedContext()


def _wait_for_other_nodes(dist) -> None:
    """Over several nodes, rank 0 may run on a member node while the leader's torchrun
    exits as soon as its own ranks do: every rank waits here until rank 0 has written
    result.json, so the leader finds it. A rank whose peers died fails the wait quickly."""
    local = os.environ.get("LOCAL_WORLD_SIZE")
    if local is None or int(local) >= _current.world_size:
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=FINAL_BARRIER_TIMEOUT)
        else:
            dist.barrier()
    except RuntimeError as error:  # a peer failed or left: its own error is the story
        logger.warning("the trial's nodes did not finish together: %s", error)


def wrap_model(
    model: nn.Module, device, *, find_unused_parameters: bool = False
) -> nn.Module | None:
    """DDP around `model` for the training forward pass; None in a 1-process trial."""
    if not _current.is_distributed:
        return None
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [_current.local_rank] if device.is_cuda else None
    return DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=find_unused_parameters
    )


def distributed_sampler(dataset, seed: int | None):
    """This rank's shuffled shard of `dataset`, or None in a 1-process trial."""
    if not _current.is_distributed:
        return None
    from torch.utils.data import DistributedSampler

    return DistributedSampler(
        dataset,
        num_replicas=_current.world_size,
        rank=_current.rank,
        shuffle=True,
        seed=seed or 0,
    )


def set_loader_epoch(loader, epoch: int) -> None:
    """A new shuffle per epoch, the same on every rank (DistributedSampler.set_epoch)."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def broadcast_flags(*flags: bool) -> tuple[bool, ...]:
    """Rank 0's flags (prune, stop) on every rank."""
    if not _current.is_distributed:
        return tuple(bool(flag) for flag in flags)
    import torch.distributed as dist

    values = [list(map(bool, flags))]
    dist.broadcast_object_list(values, src=0)
    return tuple(values[0])


def mean_across_ranks(value: float) -> float:
    """The mean of a per-rank scalar (e.g. the epoch's training loss)."""
    if not _current.is_distributed:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.item() / _current.world_size
