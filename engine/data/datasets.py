"""Torch datasets over manifests, returning what each task's trainer needs.

- `ClassificationDataset`: (image, class index) or (image, multi-hot float vector).
- `DetectionDataset`: (image, target) with torchvision's detection target layout:
  `boxes` float32 [N, 4] xyxy in pixels of the loaded (EXIF-oriented) image, `labels`
  int64 [N] (1-based by default: index 0 is torchvision's background; pass
  `label_offset=0` for 0-based trainers such as YOLO), `iscrowd` int64 [N], `area`
  float32 [N], `image_id` int64, `orig_size` int64 [2] (height, width).
- `InstanceSegmentationDataset`: the same plus `masks` uint8 [N, H, W] rasterised from the
  polygons with PIL ImageDraw; boxes are the polygons' extents.

A joint transform `transforms(image, target) -> (image, target)` may replace the default
(PIL image -> float tensor in [0, 1]); it receives the PIL image and the target in pixels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from automl.engine.data.doctor import pixel_bound
from automl.engine.data.images import LazyImage, load_image_rgb
from automl.engine.data.masks import polygons_to_mask
from automl.engine.data.streaming import prefetch_remote_images
from automl.engine.errors import AutomlError, DataError

JointTransform = Callable[[object, dict], tuple[object, dict]]
# What opening or decoding an image can raise (truncated, corrupt, replaced by something
# that is not an image, over the pixel bound). Not ValueError: transforms raise it for bugs.
IMAGE_ERRORS = (OSError, SyntaxError, Image.DecompressionBombError, AutomlError)


@contextlib.contextmanager
def reading_image(record: dict) -> Iterator[None]:
    """Turn an image that fails to open or decode into a DataError naming its line.

    The doctor checked every image before training; this catches one changed since (or a
    bound that differs), so a trial reports the file and line instead of a traceback.
    """
    pixel_bound()  # Pillow's bomb check follows AUTOML_MAX_IMAGE_PIXELS here as in the doctor
    try:
        yield
    except IMAGE_ERRORS as exc:
        detail = exc.message if isinstance(exc, AutomlError) else f"{type(exc).__name__}: {exc}"
        raise DataError(
            f"{record.get('source', '?')}: image {record.get('image_url')!r} cannot be "
            f"read or decoded ({detail})",
            hint="run `automl data validate` on the data: the file may have changed since "
            "the job checked it",
        ) from None


class ClassificationDataset(Dataset):
    """Images with a class index (multi-class) or a multi-hot float vector (multi-label)."""

    def __init__(
        self,
        records: Sequence[dict],
        labels: Sequence[str],
        transform: Callable | None = None,
        multilabel: bool = False,
    ) -> None:
        self.records = list(records)
        self.labels = list(labels)
        self.transform = transform
        self.multilabel = multilabel
        self._index = {name: i for i, name in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.records)

    def target(self, i: int) -> int | torch.Tensor:
        label = self.records[i]["label"]
        if not self.multilabel:
            return self._index[label]
        target = torch.zeros(len(self.labels), dtype=torch.float32)
        for name in label:
            target[self._index[name]] = 1.0
        return target

    def __getitem__(self, i: int):
        record = self.records[i]
        with reading_image(record):
            if getattr(self.transform, "decodes_lazily", False):
                # the transform decides how large a decode it needs (see LazyImage)
                return self.transform(LazyImage(record["image_url"])), self.target(i)
            image = load_image_rgb(record["image_url"])
        if self.transform is not None:
            image = self.transform(image)
        return image, self.target(i)

    def __getitems__(self, indices: list[int]) -> list:
        """A batch (the DataLoader's batched fetch): remote images are read ahead in parallel."""
        prefetch_remote_images(self.records, indices)
        return [self[i] for i in indices]


class DetectionDataset(Dataset):
    """Images with detection targets in pixels (see the module docstring for the layout)."""

    def __init__(
        self,
        records: Sequence[dict],
        labels: Sequence[str],
        transforms: JointTransform | None = None,
        label_offset: int = 1,
    ) -> None:
        self.records = list(records)
        self.labels = list(labels)
        self.transforms = transforms
        self.label_offset = label_offset
        self._index = {name: i + label_offset for i, name in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.records)

    def target(self, i: int, width: int, height: int) -> dict:
        """The target of record `i` for an image of `width` x `height` pixels."""
        objects = self.records[i]["label"]
        boxes = torch.tensor(
            [
                [o["topX"] * width, o["topY"] * height, o["bottomX"] * width, o["bottomY"] * height]
                for o in objects
            ],
            dtype=torch.float32,
        ).reshape(-1, 4)
        return self._common(i, objects, boxes, width, height)

    def _common(self, i, objects, boxes, width, height) -> dict:
        return {
            "boxes": boxes,
            "labels": torch.tensor([self._index[o["label"]] for o in objects], dtype=torch.int64),
            "iscrowd": torch.tensor([int(o["isCrowd"]) for o in objects], dtype=torch.int64),
            "area": (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
            "image_id": torch.tensor(i, dtype=torch.int64),
            "orig_size": torch.tensor([height, width], dtype=torch.int64),
        }

    def __getitem__(self, i: int):
        with reading_image(self.records[i]):
            image = load_image_rgb(self.records[i]["image_url"])
        target = self.target(i, *image.size)
        if self.transforms is not None:
            return self.transforms(image, target)
        from torchvision.transforms.functional import to_tensor

        return to_tensor(image), target

    def __getitems__(self, indices: list[int]) -> list:
        """A batch (the DataLoader's batched fetch): remote images are read ahead in parallel."""
        prefetch_remote_images(self.records, indices)
        return [self[i] for i in indices]


class InstanceSegmentationDataset(DetectionDataset):
    """Detection targets plus `masks` uint8 [N, H, W] rasterised from the polygons."""

    def target(self, i: int, width: int, height: int) -> dict:
        objects = self.records[i]["label"]
        pixel_polygons = [_to_pixels(o["polygon"], width, height) for o in objects]
        boxes = torch.tensor(
            [_extent(polygons) for polygons in pixel_polygons], dtype=torch.float32
        ).reshape(-1, 4)
        target = self._common(i, objects, boxes, width, height)
        masks = [polygons_to_mask(polygons, width, height) for polygons in pixel_polygons]
        target["masks"] = torch.from_numpy(
            np.stack(masks) if masks else np.zeros((0, height, width), dtype=np.uint8)
        )
        target["area"] = target["masks"].flatten(1).sum(1).to(torch.float32)
        return target


def _to_pixels(polygon: list[list[float]], width: int, height: int) -> list[list[float]]:
    return [[v * (width if j % 2 == 0 else height) for j, v in enumerate(s)] for s in polygon]


def _extent(polygons: list[list[float]]) -> list[float]:
    xs = [v for s in polygons for v in s[0::2]]
    ys = [v for s in polygons for v in s[1::2]]
    return [min(xs), min(ys), max(xs), max(ys)]
