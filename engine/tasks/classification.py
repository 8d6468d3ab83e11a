"""Classification preprocessing (Azure's, reference §3.12 and §11.2).

Defined once here and used by training, validation, batch scoring, the endpoint, ONNX parity
checks and explanations alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, ImageStat

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLASSIFICATION_TASKS = ("image_classification", "image_classification_multilabel")
# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale uses.
_LUMA = torch.tensor([0.299, 0.587, 0.114])


class ChannelNormalizer:
    """RGB image -> CHW float tensor, (x / 255 - mean) / std, constants computed once.

    The 8-bit pixels are made CHW-contiguous first, so the float maths broadcasts one
    constant over each whole channel plane (measured about 2x faster than normalising in
    HWC, where the innermost axis has only 3 elements).
    """

    def __init__(self, mean, std) -> None:
        std_t = torch.tensor(std)[:, None, None]
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = torch.tensor(mean)[:, None, None] / std_t

    def __call__(self, image: Image.Image) -> torch.Tensor:
        array = np.array(image, dtype=np.uint8)  # writable copy: torch refuses read-only memory
        chw = torch.from_numpy(array).permute(2, 0, 1).contiguous()
        return chw.float().mul_(self.scale).sub_(self.shift)


def pil_to_normalized_tensor(image: Image.Image, mean, std) -> torch.Tensor:
    """One image through `ChannelNormalizer` (transforms keep their own instance)."""
    return ChannelNormalizer(mean, std)(image)


class AffineColorJitter:
    """Azure's colour jitter (brightness, contrast, saturation 0.4, hue 0.4) as one affine map.

    torchvision's ColorJitter makes four passes over the pixels, the hue one through HSV,
    and costs more than decoding the image. All four adjustments are linear in RGB (hue as a
    rotation about the grey axis), so they are composed into one 3x3 matrix plus offset, in
    a random order as torchvision does, and applied in a single pass with one final clamp.
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.4) -> None:
        self.brightness, self.contrast, self.saturation, self.hue = (
            brightness,
            contrast,
            saturation,
            hue,
        )

    def __call__(self, image: Image.Image) -> Image.Image:
        # The mean colour of a 1/8 reduced copy: the same to a fraction of a grey level,
        # at a tenth of the cost of a full-resolution pass.
        small = image.reduce(8) if min(image.size) >= 16 else image
        mean_rgb = torch.tensor(ImageStat.Stat(small).mean) / 255.0
        matrix, offset = self.sample_affine(mean_rgb)
        rows = torch.cat([matrix, (offset * 255.0)[:, None]], dim=1)
        return image.convert("RGB", tuple(rows.flatten().tolist()))

    def sample_affine(self, mean_rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A random composition of the four adjustments, given the image's mean colour."""
        matrix, offset = torch.eye(3), torch.zeros(3)
        for op in torch.randperm(4).tolist():
            step, step_offset = self._step(op, matrix @ mean_rgb + offset)
            matrix, offset = step @ matrix, step @ offset + step_offset
        return matrix, offset

    def _step(self, op: int, mean_rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zero = torch.zeros(3)
        if op == 0:
            return _uniform(1 - self.brightness, 1 + self.brightness) * torch.eye(3), zero
        if op == 1:  # blend with the image's mean grey level
            factor = _uniform(1 - self.contrast, 1 + self.contrast)
            grey = float(_LUMA @ mean_rgb)
            return factor * torch.eye(3), torch.full((3,), (1 - factor) * grey)
        if op == 2:  # blend with the per-pixel grey image
            factor = _uniform(1 - self.saturation, 1 + self.saturation)
            return factor * torch.eye(3) + (1 - factor) * _LUMA.expand(3, 3), zero
        return _hue_rotation(_uniform(-self.hue, self.hue) * 2 * math.pi), zero


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(1).uniform_(low, high))


def _hue_rotation(angle: float) -> torch.Tensor:
    """Rotation by `angle` about the grey axis (1, 1, 1) (Rodrigues' formula)."""
    axis = torch.full((3,), 1 / math.sqrt(3))
    cross = torch.tensor(
        [[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]]
    )
    return (
        math.cos(angle) * torch.eye(3)
        + math.sin(angle) * cross
        + (1 - math.cos(angle)) * torch.outer(axis, axis)
    )


class ClassificationTrainTransform:
    """RandomResizedCrop, horizontal flip, colour jitter with p=0.5, tensor, normalise."""

    def __init__(self, crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, p_jitter=0.5):
        from torchvision import transforms as T

        self.crop = T.RandomResizedCrop(crop_size)
        self.jitter = AffineColorJitter()
        self.p_jitter = p_jitter
        self.normalize = ChannelNormalizer(mean, std)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = self.crop(image)
        if torch.rand(1).item() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if torch.rand(1).item() < self.p_jitter:
            image = self.jitter(image)
        return self.normalize(image)


class ClassificationValidTransform:
    """Resize the shorter side, centre-crop, tensor, normalise (validation and inference)."""

    def __init__(self, resize_size: int, crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        from torchvision import transforms as T

        self.resize = T.Resize(resize_size)
        self.center_crop = T.CenterCrop(crop_size)
        self.normalize = ChannelNormalizer(mean, std)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = self.center_crop(self.resize(image))
        return self.normalize(image)


def build_train_transform(
    training_crop_size: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Callable:
    """The training transform of both classification tasks."""
    return ClassificationTrainTransform(training_crop_size, mean, std)


def build_valid_transform(
    validation_resize_size: int,
    validation_crop_size: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Callable:
    """The validation / inference transform of both classification tasks."""
    return ClassificationValidTransform(validation_resize_size, validation_crop_size, mean, std)
