"""Where each worker runs, as the training side places trials: the GPUs this process sees
shared round-robin between all workers of the endpoint (each worker sees one, through
CUDA_VISIBLE_DEVICES), else the CPU cores split evenly between them. torch is imported
only where a GPU driver exists (engine/utils/gpus.py), never in the router otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from automl.engine.errors import UsageError
from automl.engine.utils.gpus import cuda_may_be_present

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Placement:
    """One worker's device: `cuda_visible_devices` ('' for CPU) and its CPU threads."""

    cuda_visible_devices: str
    n_threads: int

    @property
    def device(self) -> str:
        return "cuda" if self.cuda_visible_devices else "cpu"

    def variables(self) -> dict[str, str]:
        return {
            "CUDA_VISIBLE_DEVICES": self.cuda_visible_devices,
            "OMP_NUM_THREADS": str(self.n_threads),
            "MKL_NUM_THREADS": str(self.n_threads),
        }


def detect_gpus() -> list[str]:
    """The names (for CUDA_VISIBLE_DEVICES) of the GPUs this process sees; [] without."""
    if not cuda_may_be_present():
        return []
    try:
        import torch
    except ImportError:
        return []
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    names = visible.split(",") if visible else [str(index) for index in range(count)]
    return names[:count]


class Placer:
    """Hands out placements: `device` auto (GPUs when present), cpu or cuda; `gpus`
    (--gpus) instead of the detected ones. GPUs go round-robin over the workers started."""

    def __init__(self, device: str = "auto", gpus: list[str] | None = None) -> None:
        if device not in DEVICES:
            raise UsageError(f"--device {device!r}: expected one of {', '.join(DEVICES)}")
        self.names = [] if device == "cpu" else (gpus if gpus is not None else detect_gpus())
        if device == "cuda" and not self.names:
            raise UsageError(
                "--device cuda: no GPU is visible here", hint="use --device cpu (or auto)"
            )
        self.n_placed = 0

    def place(self, n_workers: int) -> Placement:
        """The next worker's placement, `n_workers` running in all (for the CPU split)."""
        threads = max(1, (os.cpu_count() or 1) // max(n_workers, 1))
        if not self.names:
            return Placement("", threads)
        self.n_placed += 1
        return Placement(self.names[(self.n_placed - 1) % len(self.names)], threads)
