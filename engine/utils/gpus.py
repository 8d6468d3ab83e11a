"""Whether CUDA devices can exist here, decided without importing torch.

Importing torch costs 1-2 s of CPU; the job controller only needs it to count GPUs. On a
machine without a GPU driver the answer is known from the device files alone, so `automl
job create` there never imports torch in the controller process.
"""

from __future__ import annotations

import os
from pathlib import Path

# NVIDIA (driver control node, proc entry), AMD ROCm (torch.cuda is HIP there), WSL's GPU
# paravirtualisation node. Any one of them means "ask torch".
GPU_DRIVER_NODES = ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/kfd", "/dev/dxg")


def cuda_may_be_present(nodes: tuple[str, ...] = GPU_DRIVER_NODES) -> bool:
    """False when no CUDA device can be visible: CUDA_VISIBLE_DEVICES is empty, or no GPU
    driver node exists. True means only "import torch and ask"."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return False
    return any(Path(node).exists() for node in nodes)
