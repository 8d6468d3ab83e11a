"""What every converter shares: the result type, the registry, image look-ups."""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from PIL import Image

from automl.engine.data.doctor import pixels_hint
from automl.engine.data.images import oriented_size
from automl.engine.errors import DataError, LimitError, UsageError
from automl.engine.utils.registry import Registry
from automl.schemas import limit, limit_hint

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class ConversionResult:
    """Records in the normalised JSONL form, with absolute image paths in `image_url`.

    `splits` is the source's own training/validation split ({"train": [...], "valid":
    [...]}, e.g. VOC's ImageSets lists), or None when it has none.
    """

    task: str
    records: list[dict]
    warnings: list[str] = field(default_factory=list)
    splits: dict[str, list[dict]] | None = None


@dataclass
class ConvertOptions:
    """Format-specific inputs: where the images are, a class-names file, a CSV separator."""

    images: Path | None = None
    names: Path | None = None
    separator: str | None = None
    masks: Path | None = None  # VOC: the SegmentationObject folder


class Converter(abc.ABC):
    """Reads one annotation format into records for one of the supported tasks."""

    tasks: ClassVar[tuple[str, ...]]
    default_task: ClassVar[str]

    def resolve_task(self, task: str | None, source: Path) -> str:
        """The task to convert for: the one asked, else the format's default."""
        task = task or self.default_task
        if task not in self.tasks:
            name = type(self).__name__
            raise UsageError(
                f"{name} cannot produce task {task!r}; it supports: {', '.join(self.tasks)}"
            )
        return task

    @abc.abstractmethod
    def convert(self, source: Path, task: str, options: ConvertOptions) -> ConversionResult:
        """Read `source` and return its records for `task`."""


CONVERTERS: Registry[type[Converter]] = Registry("converter")


def is_image(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) after EXIF orientation from the header; None when unreadable (the
    dataset doctor then says why, at the line), not a regular file, or a decompression bomb."""
    if not path.is_file():  # a FIFO named like an image would block Image.open
        return None
    try:
        with Image.open(path) as image:
            return oriented_size(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def check_count(n: int, where: str | os.PathLike, what: str) -> None:
    """Refuse a source of more than `manifest_lines` images (XML files, rows, ...)."""
    max_lines = limit("manifest_lines")
    if n > max_lines:
        raise LimitError(
            f"{where}: {n:,} {what}, more than the limit of {max_lines:,} images per dataset",
            hint=limit_hint("manifest_lines"),
        )


def check_labels(n: int, where: str | os.PathLike) -> None:
    """Refuse an image with more than `labels_per_image` objects."""
    max_labels = limit("labels_per_image")
    if n > max_labels:
        raise LimitError(
            f"{where}: {n:,} objects in one image, more than the limit of {max_labels:,}",
            hint=limit_hint("labels_per_image"),
        )


def check_image_pixels(size: tuple[int, int], where: str | os.PathLike) -> None:
    """Refuse a mask or image of more than `image_pixels` pixels before decoding it."""
    max_pixels = limit("image_pixels")
    if size[0] * size[1] > max_pixels:
        raise LimitError(
            f"{where}: {size[0]} x {size[1]} pixels, more than the limit of {max_pixels:,}",
            hint=pixels_hint(),
        )


def details(path: Path, width: int | None = None, height: int | None = None) -> dict:
    """`image_details` with the format and the size (given, else read from the header)."""
    if not width or not height:
        size = image_size(path)
        width, height = size if size else (None, None)
    result = {"format": path.suffix.lstrip(".").lower()}
    if width and height:
        result.update(width=int(width), height=int(height))
    return result


def find_image(name: str, folders: Sequence[Path]) -> Path:
    """The first existing `folder/name` (or `folder/basename(name)`); else the first guess."""
    candidates = []
    for folder in folders:
        candidates += [folder / name, folder / os.path.basename(name)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.absolute()
    return candidates[0].absolute()


def require_exists(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{path}: {what} not found")
    return path


def clip_unit(value: float) -> float:
    return min(1.0, max(0.0, value))


def box_record(label: str, box: Sequence[float], crowd: bool = False) -> dict:
    """A detection object from normalised (x1, y1, x2, y2), clipped to [0, 1]."""
    x1, y1, x2, y2 = (clip_unit(float(v)) for v in box)
    return {
        "label": label,
        "topX": x1,
        "topY": y1,
        "bottomX": x2,
        "bottomY": y2,
        "isCrowd": bool(crowd),
    }
