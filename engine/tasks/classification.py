"""Classification preprocessing (Azure's, docs/azure-compatibility.md §3.12 and §11.2).

Defined once here and used by training, validation, batch scoring, the endpoint, ONNX parity
checks and explanations alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from automl.engine.data.images import LazyImage

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale uses.
_LUMA = np.array([0.299, 0.587, 0.114])


class ChannelNormalizer:
    """RGB image -> CHW float tensor, (x / 255 - mean) / std, constants computed once.

    The 8-bit pixels are made CHW-contiguous first, so the float maths broadcasts one
    constant over each whole channel plane (measured about 2x faster than normalising in
    HWC, where the innermost axis has only 3 elements).
    """

    def __init__(self, mean, std) -> None:
        std_t = torch.tensor(std)[:, None, None]
        self.inverse_std = 1.0 / std_t
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = torch.tensor(mean)[:, None, None] / std_t

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return _chw_uint8(image).float().mul_(self.scale).sub_(self.shift)

    def with_affine(self, image: Image.Image, matrix: np.ndarray, offset: np.ndarray):
        """The normalised tensor of `clamp(matrix @ rgb + offset, 0, 1)` (rgb in [0, 1]):
        colour jitter applied in the float pass normalisation makes anyway, instead of a
        separate 8-bit pass over the pixels (and without its rounding)."""
        chw = _chw_uint8(image).float()
        weights = torch.from_numpy(matrix / 255.0).float()
        bias = torch.from_numpy(offset).float()[:, None]
        rgb = torch.addmm(bias, weights, chw.view(3, -1)).clamp_(0.0, 1.0)
        return rgb.view_as(chw).mul_(self.inverse_std).sub_(self.shift)


def _chw_uint8(image: Image.Image) -> torch.Tensor:
    """The 8-bit pixels as a contiguous CHW tensor (numpy's transposing copy is twice as
    fast as torch's for a 3-element innermost axis, and leaves a writable array)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1)))


def pil_to_normalized_tensor(image: Image.Image, mean, std) -> torch.Tensor:
    """One image through `ChannelNormalizer` (transforms keep their own instance)."""
    return ChannelNormalizer(mean, std)(image)


class AffineColorJitter:
    """Azure's colour jitter (brightness, contrast, saturation 0.4, hue 0.4) as one affine map.

    torchvision's ColorJitter makes four passes over the pixels, the hue one through HSV,
    and costs more than decoding the image. All four adjustments are linear in RGB (hue as a
    rotation about the grey axis), so they are composed into one 3x3 matrix plus offset, in
    a random order as torchvision does, and applied in a single pass with one final clamp.
    The 3x3 algebra is numpy (torch's per-call overhead on tiny tensors cost more than the
    pixels); the random draws stay torch's, so seeds and worker seeding hold.
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.4) -> None:
        self.ranges = (
            (1 - brightness, 1 + brightness),
            (1 - contrast, 1 + contrast),
            (1 - saturation, 1 + saturation),
            (-hue, hue),
        )

    def __call__(self, image: Image.Image) -> Image.Image:
        """The jittered image (8-bit); training applies `sample_for`'s map in its float
        pass instead (ChannelNormalizer.with_affine)."""
        matrix, offset = self.sample_for(image)
        rows = np.concatenate([matrix, (offset * 255.0)[:, None]], axis=1)
        return image.convert("RGB", tuple(rows.ravel().tolist()))

    def sample_for(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """A random (matrix, offset) on RGB in [0, 1] for this image."""
        # The mean colour of a 1/8 reduced copy: the same to a fraction of a grey level,
        # at a tenth of the cost of a full-resolution pass.
        small = image.reduce(8) if min(image.size) >= 16 else image
        mean_rgb = np.asarray(small).reshape(-1, 3).mean(axis=0) / 255.0
        return self.sample_affine(mean_rgb)

    def sample_affine(self, mean_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A random composition of the four adjustments, given the image's mean colour."""
        order, draws = torch.randperm(4).tolist(), torch.rand(4).tolist()
        matrix, offset = np.eye(3), np.zeros(3)
        for op in order:
            step, step_offset = self.step(op, draws[op], matrix @ mean_rgb + offset)
            matrix, offset = step @ matrix, step @ offset + step_offset
        return matrix, offset

    def step(self, op: int, u: float, mean_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Adjustment `op` (0 brightness, 1 contrast, 2 saturation, 3 hue) with the uniform
        draw `u` in [0, 1) mapped onto its range, as (matrix, offset) on RGB in [0, 1]."""
        low, high = self.ranges[op]
        factor = low + u * (high - low)
        zero = np.zeros(3)
        if op == 0:
            return factor * _EYE, zero
        if op == 1:  # blend with the image's mean grey level
            grey = float(_LUMA @ mean_rgb)
            return factor * _EYE, np.full(3, (1 - factor) * grey)
        if op == 2:  # blend with the per-pixel grey image
            return factor * _EYE + (1 - factor) * _GREY_PROJECTION, zero
        return _hue_rotation(factor * 2 * math.pi), zero


_EYE = np.eye(3)
_GREY_PROJECTION = np.tile(_LUMA, (3, 1))  # each row: the luma
_AXIS = np.full(3, 1 / math.sqrt(3))  # the grey axis
_AXIS_CROSS = np.array(
    [[0.0, -_AXIS[2], _AXIS[1]], [_AXIS[2], 0.0, -_AXIS[0]], [-_AXIS[1], _AXIS[0], 0.0]]
)
_AXIS_OUTER = np.outer(_AXIS, _AXIS)


def _hue_rotation(angle: float) -> np.ndarray:
    """Rotation by `angle` about the grey axis (1, 1, 1) (Rodrigues' formula)."""
    return (
        math.cos(angle) * _EYE + math.sin(angle) * _AXIS_CROSS + (1 - math.cos(angle)) * _AXIS_OUTER
    )


class RandomResizedCropBox:
    """torchvision's RandomResizedCrop (area 8-100 %, aspect 3/4-4/3, 10 tries, then a
    centre crop at the limiting aspect), faster: its random draws are one torch call, and
    crop and resize are one Pillow call (`resize(box=...)`, no intermediate image)."""

    def __init__(self, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> None:
        self.size = size
        self.scale, self.ratio = scale, ratio
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def params(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, width, height) of the crop box."""
        area = width * height
        (s_low, s_high), (r_low, r_high) = self.scale, self.log_ratio
        for u_area, u_ratio, u_top, u_left in torch.rand(10, 4).tolist():
            target_area = area * (s_low + u_area * (s_high - s_low))
            aspect = math.exp(r_low + u_ratio * (r_high - r_low))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return int(u_left * (width - w + 1)), int(u_top * (height - h + 1)), w, h
        aspect = width / height
        if aspect < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif aspect > self.ratio[1]:
            w, h = int(round(height * self.ratio[1])), height
        else:
            w, h = width, height
        return (width - w) // 2, (height - h) // 2, w, h

    def __call__(self, image: Image.Image | LazyImage) -> Image.Image:
        width, height = image.size
        left, top, w, h = self.params(width, height)
        if isinstance(image, LazyImage):
            # decode no larger than this crop needs: the box keeps >= `size` pixels a side
            need = (math.ceil(self.size * width / w), math.ceil(self.size * height / h))
            image = image.decode(min_size=need)
        sx, sy = image.width / width, image.height / height  # 1 unless decoded smaller
        box = (left * sx, top * sy, (left + w) * sx, (top + h) * sy)
        return image.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)


class ClassificationTrainTransform:
    """RandomResizedCrop, horizontal flip, colour jitter with p=0.5, tensor, normalise.

    Azure's transform by default; `min_crop_area`, `color_jitter` and `hflip` (our extension,
    the job keys `augmentation_*`) make it milder for small images and short schedules."""

    decodes_lazily = True  # takes a LazyImage: the crop decides how much to decode

    def __init__(
        self,
        crop_size: int,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        p_jitter=0.5,
        *,
        min_crop_area: float | None = None,
        color_jitter: float | None = None,
        hflip: bool = True,
    ):
        crop_options = {} if min_crop_area is None else {"scale": (min_crop_area, 1.0)}
        self.crop = RandomResizedCropBox(crop_size, **crop_options)
        jitter_options = {} if color_jitter is None else dict.fromkeys(_JITTER_KEYS, color_jitter)
        self.jitter = AffineColorJitter(**jitter_options)
        self.p_jitter = p_jitter if color_jitter != 0 else 0.0
        self.p_flip = 0.5 if hflip else 0.0
        self.normalize = ChannelNormalizer(mean, std)

    def __call__(self, image: Image.Image | LazyImage) -> torch.Tensor:
        image = self.crop(image)
        flip, jitter = torch.rand(2).tolist()  # drawn either way: the same seeds, the same crops
        if flip < self.p_flip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if jitter < self.p_jitter:
            return self.normalize.with_affine(image, *self.jitter.sample_for(image))
        return self.normalize(image)


_JITTER_KEYS = ("brightness", "contrast", "saturation", "hue")


class ClassificationValidTransform:
    """Resize the shorter side, centre-crop, tensor, normalise (validation and inference)."""

    decodes_lazily = True  # takes a LazyImage: decoded no larger than the resize needs

    def __init__(self, resize_size: int, crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        from torchvision import transforms as T

        self.resize_size = resize_size
        self.resize = T.Resize(resize_size)
        self.center_crop = T.CenterCrop(crop_size)
        self.normalize = ChannelNormalizer(mean, std)

    def __call__(self, image: Image.Image | LazyImage) -> torch.Tensor:
        if isinstance(image, LazyImage):
            image = image.decode(min_size=self.decode_size(*image.size))
        image = self.center_crop(self.resize(image))
        return self.normalize(image)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        """The smallest decode of a width x height image that loses nothing here: its
        shorter side keeps `resize_size` pixels."""
        scale = self.resize_size / min(width, height)
        return math.ceil(width * scale), math.ceil(height * scale)


def build_train_transform(
    training_crop_size: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    *,
    min_crop_area: float | None = None,
    color_jitter: float | None = None,
    hflip: bool = True,
) -> Callable:
    """The training transform of both classification tasks (Azure's unless the
    augmentation_* keys of the job make it milder; None keeps Azure's value)."""
    return ClassificationTrainTransform(
        training_crop_size,
        mean,
        std,
        min_crop_area=min_crop_area,
        color_jitter=color_jitter,
        hflip=hflip,
    )


def build_valid_transform(
    validation_resize_size: int,
    validation_crop_size: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Callable:
    """The validation / inference transform of both classification tasks."""
    return ClassificationValidTransform(validation_resize_size, validation_crop_size, mean, std)
