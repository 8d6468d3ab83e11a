"""Trial slots: where each of a job's concurrent trials runs, a share of the GPUs (its
CUDA_VISIBLE_DEVICES) or, without GPUs, a share of the CPU cores."""

from __future__ import annotations

import os
from dataclasses import dataclass

from automl.engine.trials import cpu_threads_per_slot, slot_variables
from automl.engine.utils.gpus import cuda_may_be_present


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


def detect_gpus() -> list[int]:
    """The CUDA devices this process sees ([] without CUDA); imports torch only if needed."""
    if not cuda_may_be_present():
        return []
    try:
        import torch
    except ImportError:
        return []
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


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
