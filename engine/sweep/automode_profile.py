"""What AutoMode's policy (automode.py) is sized to: the data (image count, median size,
labels and objects per image, box areas) and the hardware (GPUs and their memory, or CPU
cores), read once before the plan."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from automl.engine.data.manifest import read_manifest
from automl.engine.tasks import get_task

_PROFILE_SAMPLE = 200  # images whose size is read when the manifest lacks image_details


@dataclass
class DataProfile:
    """What the portfolio is sized to: image count, image size, objects per image."""

    n_train: int
    median_width: int | None = None
    median_height: int | None = None
    median_objects: float | None = None
    median_box_area: float | None = None
    n_classes: int | None = None
    median_labels: float | None = None  # labels per image (multi-label)

    @property
    def side(self) -> int | None:
        """The median shorter side in pixels (None when unknown)."""
        if self.median_width is None or self.median_height is None:
            return None
        return min(self.median_width, self.median_height)


@dataclass
class HardwareProfile:
    """The device trials run on: GPU count and memory, or CPU cores."""

    device: str  # "cuda" | "cpu"
    n_gpus: int = 0
    gpu_memory_gb: float | None = None
    n_cpus: int = 1


def profile_data(task: str, train_manifest: Path) -> DataProfile:
    """Image count, median image size and, for detection, objects and box area per image."""
    records = read_manifest(train_manifest)
    widths, heights = _image_sizes(records[:_PROFILE_SAMPLE])
    profile = DataProfile(
        n_train=len(records),
        median_width=int(statistics.median(widths)) if widths else None,
        median_height=int(statistics.median(heights)) if heights else None,
    )
    if get_task(task).multilabel:
        counts = [len(r.get("label") or []) for r in records]
        profile.median_labels = float(statistics.median(counts)) if counts else None
    profile.n_classes = len({name for r in records for name in _label_names(r)})
    if get_task(task).objects:
        counts = [len(r.get("label") or []) for r in records]
        areas = [_box_area(box) for r in records for box in (r.get("label") or [])]
        areas = [a for a in areas if a is not None]
        profile.median_objects = float(statistics.median(counts)) if counts else None
        profile.median_box_area = float(statistics.median(areas)) if areas else None
    return profile


def _label_names(record: dict) -> list[str]:
    label = record.get("label")
    if isinstance(label, str):
        return [label]
    return [x if isinstance(x, str) else x.get("label") for x in label or [] if x is not None]


def _image_sizes(records: list[dict]) -> tuple[list[int], list[int]]:
    widths, heights = [], []
    for record in records:
        details = record.get("image_details") or {}
        width, height = details.get("width"), details.get("height")
        if not (isinstance(width, int) and isinstance(height, int)):
            width, height = _read_size(record.get("image_url"))
        if width and height:
            widths.append(width)
            heights.append(height)
    return widths, heights


def _read_size(path: str | None) -> tuple[int | None, int | None]:
    from PIL import Image  # header only: Image.open does not decode the pixels

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, TypeError, ValueError):
        return None, None


def _box_area(box: dict) -> float | None:
    try:
        return (box["bottomX"] - box["topX"]) * (box["bottomY"] - box["topY"])
    except (KeyError, TypeError):
        polygon = (box.get("polygon") or [[]])[0] if isinstance(box, dict) else []
        if len(polygon) < 6:
            return None
        xs, ys = polygon[0::2], polygon[1::2]
        return (max(xs) - min(xs)) * (max(ys) - min(ys))


def profile_hardware(gpus: list[int], gpu_memory_gb: float | None, n_cpus: int) -> HardwareProfile:
    """The device profile from the GPUs the controller packs trials on."""
    if gpus:
        return HardwareProfile("cuda", n_gpus=len(gpus), gpu_memory_gb=gpu_memory_gb, n_cpus=n_cpus)
    return HardwareProfile("cpu", n_cpus=n_cpus)
