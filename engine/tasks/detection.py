"""Object detection and instance segmentation preprocessing (docs/azure-compatibility.md §3.12,
§11.2).

Defined once here and used by training, validation, the predictor and tiling alike.
Torchvision detectors normalise (ImageNet mean/std) and resize (min_size/max_size) inside
the model, so the input is the RGB image as a float CHW tensor in [0, 1] at its own size;
batches are lists of tensors of different sizes.

Training augmentation (Azure's R-CNN family, off with advanced_settings
`apply_automl_train_augmentations: false`): with p=0.5 either (p=0.5) a random crop that
keeps every box whole (crop area >= 60 % of the image, aspect ratio in (0.5, 2)) or an
"expand" onto a canvas 1-2x larger filled with the ImageNet mean; then a horizontal flip
with p=0.5. Masks (instance segmentation) follow the same geometry.
"""

from __future__ import annotations

import math
import random

import torch
from PIL import Image

from automl.engine.tasks.classification import IMAGENET_MEAN

AUGMENT_P = 0.5
MIN_CROP_AREA = 0.6
CROP_ASPECT_RANGE = (0.5, 2.0)
CROP_TRIES = 50
MAX_EXPAND_RATIO = 2.0


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float CHW tensor in [0, 1] (the detectors' model input)."""
    from torchvision.transforms.functional import pil_to_tensor

    return pil_to_tensor(image.convert("RGB")).float().div_(255.0)


def preprocess_images(images: list[Image.Image]) -> list[torch.Tensor]:
    """Validation and inference input: one [0, 1] tensor per image, sizes kept."""
    return [image_to_tensor(image) for image in images]


def collate_detection(batch: list[tuple]) -> tuple[list, list]:
    """A batch of (image, target) pairs -> (list of images, list of targets)."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


class DetectionValidTransform:
    """(PIL image, target) -> ([0, 1] tensor, target): no geometry change."""

    def __call__(self, image: Image.Image, target: dict) -> tuple[torch.Tensor, dict]:
        return image_to_tensor(image), target


class DetectionTrainTransform:
    """Azure's training augmentation for the R-CNN family (see the module docstring)."""

    def __init__(self, augment: bool = True) -> None:
        self.augment = augment

    def __call__(self, image: Image.Image, target: dict) -> tuple[torch.Tensor, dict]:
        tensor = image_to_tensor(image)
        if not self.augment:
            return tensor, target
        if random.random() < AUGMENT_P:
            if random.random() < 0.5:
                tensor, target = random_crop_keeping_boxes(tensor, target)
            else:
                tensor, target = random_expand(tensor, target)
        if random.random() < 0.5:
            tensor, target = horizontal_flip(tensor, target)
        return tensor, target


def horizontal_flip(image: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    width = image.shape[-1]
    target = dict(target)
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    target["boxes"] = boxes
    if "masks" in target:
        target["masks"] = target["masks"].flip(-1)
    return image.flip(-1), target


def crop_window(width: int, height: int, boxes: torch.Tensor) -> tuple[int, int, int, int] | None:
    """A random window (x0, y0, x1, y1) of >= 60 % area and aspect in (0.5, 2) that contains
    every box, or None when CROP_TRIES samples found none."""
    if len(boxes):
        need = (
            math.floor(boxes[:, 0].min()),
            math.floor(boxes[:, 1].min()),
            math.ceil(boxes[:, 2].max()),
            math.ceil(boxes[:, 3].max()),
        )
    else:
        need = (width, height, 0, 0)  # nothing to keep: every position fits
    for _ in range(CROP_TRIES):
        scale = random.uniform(MIN_CROP_AREA, 1.0)
        aspect = random.uniform(*CROP_ASPECT_RANGE)
        w = min(width, round(math.sqrt(scale * aspect) * width))
        h = min(height, round(math.sqrt(scale / aspect) * height))
        if w * h < MIN_CROP_AREA * width * height:
            continue
        x_low, x_high = max(0, need[2] - w), min(need[0], width - w)
        y_low, y_high = max(0, need[3] - h), min(need[1], height - h)
        if x_low <= x_high and y_low <= y_high:
            x0, y0 = random.randint(x_low, x_high), random.randint(y_low, y_high)
            return x0, y0, x0 + w, y0 + h
    return None


def random_crop_keeping_boxes(image: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    height, width = image.shape[-2:]
    window = crop_window(width, height, target["boxes"])
    if window is None:
        return image, target
    return crop(image, target, window)


def crop(image: torch.Tensor, target: dict, window) -> tuple[torch.Tensor, dict]:
    """Cut `window` (x0, y0, x1, y1) out of the image; boxes move and are clipped to it."""
    x0, y0, x1, y1 = window
    target = dict(target)
    boxes = target["boxes"] - torch.tensor([x0, y0, x0, y0], dtype=torch.float32)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, x1 - x0)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, y1 - y0)
    target["boxes"] = boxes
    if "masks" in target:
        target["masks"] = target["masks"][:, y0:y1, x0:x1]
    return image[:, y0:y1, x0:x1], target


def random_expand(image: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    """Place the image at a random spot of a canvas 1-2x its size, filled with the mean."""
    ratio = random.uniform(1.0, MAX_EXPAND_RATIO)
    height, width = image.shape[-2:]
    new_h, new_w = int(height * ratio), int(width * ratio)
    top, left = random.randint(0, new_h - height), random.randint(0, new_w - width)
    canvas = torch.tensor(IMAGENET_MEAN, dtype=image.dtype)[:, None, None].repeat(1, new_h, new_w)
    canvas[:, top : top + height, left : left + width] = image
    target = dict(target)
    target["boxes"] = target["boxes"] + torch.tensor([left, top, left, top], dtype=torch.float32)
    if "masks" in target:
        masks = target["masks"]
        expanded = masks.new_zeros((masks.shape[0], new_h, new_w))
        expanded[:, top : top + height, left : left + width] = masks
        target["masks"] = expanded
    return canvas, target


def build_detection_train_transform(augment: bool = True) -> DetectionTrainTransform:
    """The training transform of both object tasks (`augment`: Azure's augmentations)."""
    return DetectionTrainTransform(augment)


def build_detection_valid_transform() -> DetectionValidTransform:
    """The validation / inference transform of both object tasks."""
    return DetectionValidTransform()
