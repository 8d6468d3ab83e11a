"""env.json: what a run ran on, so results can be compared and reproduced."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from automl.engine.utils.files import write_json_atomic
from automl.engine.utils.gpus import cuda_may_be_present

RECORDED_PACKAGES = (
    "automl-vision",
    "torch",
    "torchvision",
    "timm",
    "optuna",
    "numpy",
    "pillow",
    "ultralytics",
)


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def describe_environment() -> dict:
    cuda, gpus = describe_gpus()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "cuda": cuda,
        "gpus": gpus,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def describe_gpus() -> tuple[str | None, list[dict]]:
    """(CUDA version, visible GPUs); torch is imported only where a GPU driver exists."""
    if not cuda_may_be_present():
        return None, []
    import torch

    if not torch.cuda.is_available():
        return None, []
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append({"index": index, "name": props.name, "memory_mb": props.total_memory >> 20})
    return torch.version.cuda, gpus


def write_env_json(path: Path) -> None:
    write_json_atomic(path, describe_environment())
