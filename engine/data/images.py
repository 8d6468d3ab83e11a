"""Opening images the same way everywhere: EXIF orientation applied, always RGB."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageOps

from automl.engine.data.urls import is_remote, read_bytes

# EXIF orientations 5-8 rotate by 90 degrees: width and height swap once applied.
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)
_EXIF_ORIENTATION_TAG = 0x0112


def open_image(location: str | os.PathLike) -> Image.Image:
    """Open (lazily) a local image, or a remote one through the shared image cache."""
    location = str(location)
    if is_remote(location):
        return Image.open(io.BytesIO(read_bytes(location)))
    return Image.open(location)


def load_image_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image as 8-bit RGB with its EXIF orientation applied.

    Grayscale, palette, RGBA (composited on white), CMYK and 16-bit images are converted.
    """
    return LazyImage(path).decode()


class LazyImage:
    """An image opened but not decoded yet, for transforms that know how large a decode
    they need before decoding (the training crop, the validation resize).

    `size` is the upright (EXIF-oriented) size, read from the header. `decode(min_size)`
    returns what `load_image_rgb` does, except that a JPEG is decoded at the smallest scale
    of 1/1, 1/2, 1/4 or 1/8 still at least `min_size` (upright): libjpeg scales during the
    inverse DCT, so a camera photo cut to a 224 px crop skips most of its decoding.
    """

    def __init__(self, location: str | os.PathLike, *, _image: Image.Image | None = None) -> None:
        self.location = str(location)
        self._image = _image if _image is not None else open_image(location)
        self.size = oriented_size(self._image)
        self._swapped = self.size != self._image.size

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> LazyImage:
        """An encoded image held in memory (a request body, a downloaded file)."""
        return cls(name, _image=Image.open(io.BytesIO(data)))

    def decode(self, min_size: tuple[float, float] | None = None) -> Image.Image:
        with self._image as image:
            if min_size is not None and image.format == "JPEG":
                width, height = (max(1, int(value)) for value in min_size)
                image.draft(None, (height, width) if self._swapped else (width, height))
            image.load()  # decoded before the file closes
            # in place: no copy of an upright image (most are), which exif_transpose makes
            ImageOps.exif_transpose(image, in_place=True)
            return to_rgb(image)


def oriented_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read from the header without decoding."""
    width, height = image.size
    orientation = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    if orientation in _SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB."""
    if image.mode == "RGB":
        return image.copy() if image.readonly else image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit single channel: scale the real range to 8 bits instead of clipping.
        array = np.asarray(image, dtype=np.float64)
        top = array.max() or 1.0
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        return Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")
