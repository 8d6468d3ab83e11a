"""Images as a Python caller holds them -> RGB PIL images for `Predictor.predict`.

A source is a path or URL (`str` or `os.PathLike`), encoded image bytes, a PIL image, or a
numpy array (HWC or HW; uint8, or float in [0, 1]). Paths and URLs are read as every other
image is (`engine/data`: regular files within `image_file_bytes`, remote ones through the
shared cache, retried and bounded), and every decode is bounded by `image_pixels`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from PIL import Image

from automl.engine.data.images import LazyImage, to_rgb
from automl.engine.predict.inputs import (
    InputError,
    check_image_pixels,
    decode_lazy,
    open_image_bytes,
)

DecodeFit = Callable[[int, int], "tuple[int, int] | None"]
_CHANNELS = (1, 3, 4)


def is_single_source(value: object) -> bool:
    """Whether `value` is one image (else an iterable of them)."""
    return isinstance(value, str | bytes | bytearray | os.PathLike | Image.Image | np.ndarray)


def image_from_source(value: object, where: str, fit: DecodeFit | None = None) -> Image.Image:
    """One source as an upright 8-bit RGB image; InputError for anything else."""
    from automl.schemas import limit

    max_pixels = limit("image_pixels")
    if isinstance(value, bytes | bytearray):
        return open_image_bytes(bytes(value), where, fit, max_pixels)
    if isinstance(value, str | os.PathLike):
        return _image_at(os.fspath(value), fit, max_pixels)
    if isinstance(value, Image.Image):
        _check_pixels(value.width * value.height, max_pixels, where)
        return to_rgb(value)
    if isinstance(value, np.ndarray):
        return image_from_array(value, where, max_pixels)
    raise InputError(
        f"{where}: expected a path, URL, bytes, PIL image or numpy array, got "
        f"{type(value).__name__}",
        hint="pass one image or a list of them",
    )


def _image_at(location: str, fit: DecodeFit | None, max_pixels: int) -> Image.Image:
    """A local path (relative to the current folder), file:// URI or URL."""
    from automl.engine.data.urls import display_path, resolve_location

    resolved = resolve_location(location, os.getcwd())
    where = display_path(resolved)  # a URL's secrets redacted
    image = LazyImage(resolved)
    min_size = fit(*image.size) if fit is not None else None
    check_image_pixels(image, min_size, max_pixels, where)
    return decode_lazy(image, min_size, where)


def image_from_array(array: np.ndarray, where: str, max_pixels: int) -> Image.Image:
    """HWC (C 1, 3 or 4) or HW; uint8 as is, floats in [0, 1] scaled to 0-255."""
    if array.ndim == 3 and array.shape[2] in _CHANNELS:
        pixels = array[:, :, 0] if array.shape[2] == 1 else array
    elif array.ndim == 2:
        pixels = array
    else:
        raise InputError(
            f"{where}: an array of shape {array.shape} is not an image",
            hint="pass height x width x channels (1, 3 or 4), as PIL and OpenCV give",
        )
    _check_pixels(array.shape[0] * array.shape[1], max_pixels, where)
    return to_rgb(Image.fromarray(_as_uint8(pixels, where)))


def _as_uint8(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(
            f"{where}: an array of {array.dtype} is not an image",
            hint="pass uint8 (0-255) or float (0-1) pixels",
        )
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high) and low >= 0.0 and high <= 1.0):
        raise InputError(
            f"{where}: float pixels must lie in [0, 1], these span [{low:g}, {high:g}]",
            hint="divide 0-255 values by 255, or pass them as uint8",
        )
    return np.ascontiguousarray(np.round(array * 255.0).astype(np.uint8))


def _check_pixels(n_pixels: int, max_pixels: int, where: str) -> None:
    from automl.schemas import limit_hint

    if n_pixels > max_pixels:
        raise InputError(
            f"{where}: the image has {n_pixels:,} pixels; the limit is {max_pixels:,}",
            hint=limit_hint("image_pixels"),
            limit=max_pixels,
        )
