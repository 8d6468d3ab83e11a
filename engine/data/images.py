"""Opening images the same way everywhere: EXIF orientation applied, always RGB.

Local files must be regular files within the `image_file_bytes` bound (a FIFO or a device
would block or never end); `LazyImage.decode(max_pixels=...)` refuses, from the header and
before decoding, an image that would decode to more pixels than the caller allows.
"""

from __future__ import annotations

import io
import os
import re

import numpy as np
from PIL import Image, ImageOps

from automl.engine.data.urls import is_remote, read_bytes
from automl.engine.errors import LimitError

# EXIF orientations 5-8 rotate by 90 degrees: width and height swap once applied.
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)
_EXIF_ORIENTATION_TAG = 0x0112
_XMP_ORIENTATION = re.compile(r'tiff:Orientation(="|>)([0-9])')


def open_image(location: str | os.PathLike) -> Image.Image:
    """Open (lazily) a local image, or a remote one through the shared image cache."""
    location = str(location)
    if is_remote(location):
        return Image.open(io.BytesIO(read_bytes(location)))
    check_image_file(location)
    return Image.open(location)


def check_image_file(path: str | os.PathLike) -> None:
    """Refuse a local image that is not a regular file, or larger than `image_file_bytes`."""
    from automl.engine.utils.files import check_regular_file
    from automl.schemas import limit, limit_hint

    size = check_regular_file(path, "image").st_size
    if size > limit("image_file_bytes"):
        raise LimitError(
            f"image {os.fspath(path)}: {size:,} bytes, over the limit of "
            f"{limit('image_file_bytes'):,} bytes",
            hint=limit_hint("image_file_bytes"),
        )


class PixelLimitError(LimitError):
    """An image would decode to more pixels than allowed (`pixels` > `limit`)."""

    def __init__(self, message: str, *, pixels: int, limit: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.pixels = pixels
        self.limit = limit


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
        self._decoded = False

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> LazyImage:
        """An encoded image held in memory (a request body, a downloaded file)."""
        return cls(name, _image=Image.open(io.BytesIO(data)))

    def _draft(self, min_size: tuple[float, float] | None) -> tuple[int, int]:
        """(width, height) as stored that a decode for `min_size` decodes, from the header:
        a JPEG's reduced scale applied (the decoder is set to it; later calls keep it)."""
        image = self._image
        if min_size is not None and image.format == "JPEG":
            width, height = (max(1, int(value)) for value in min_size)
            image.draft(None, (height, width) if self._swapped else (width, height))
        return image.size

    def close(self) -> None:
        """Release the file (or bytes) without decoding; nothing once decoded (the image
        returned by `decode` may share its pixels)."""
        if not self._decoded:
            self._image.close()

    def decode(
        self, min_size: tuple[float, float] | None = None, *, max_pixels: int | None = None
    ) -> Image.Image:
        """The RGB image, upright. `max_pixels`: a PixelLimitError, before any decoding,
        when the image would decode to more pixels (its message names the size and limit;
        the caller adds how to raise it)."""
        self.check_pixels(min_size, max_pixels)
        self._decoded = True
        with self._image as image:
            image.load()  # decoded before the file closes
            # in place: no copy of an upright image (most are), which exif_transpose makes
            ImageOps.exif_transpose(image, in_place=True)
            return to_rgb(image)

    def check_pixels(
        self, min_size: tuple[float, float] | None = None, max_pixels: int | None = None
    ) -> int:
        """How many pixels `decode(min_size)` decodes, from the header (a JPEG counts at
        its reduced scale); PixelLimitError, and the file closed, past `max_pixels`."""
        width, height = self._draft(min_size)
        pixels = width * height
        if max_pixels is not None and pixels > max_pixels:
            self.close()
            width, height = self.size
            raise PixelLimitError(
                f"{self.location}: a {width}x{height} image would decode to {pixels:,} "
                f"pixels; the limit is {max_pixels:,}",
                pixels=pixels,
                limit=max_pixels,
            )
        return pixels


def oriented_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read from the header without decoding."""
    width, height = image.size
    if header_orientation(image) in _SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def header_orientation(image: Image.Image) -> int:
    """The EXIF (or XMP) orientation of an opened image, 1 when none, without decoding.

    Pillow's PNG `getexif` decodes the whole image when the header has no eXIf chunk (one
    may follow the pixels): a 20 KB PNG declaring 13000x13000 would take 500 MB before any
    bound is checked. Here such a PNG is read from its header alone (XMP included); a late
    eXIf chunk is still applied when the image is decoded.
    """
    if image.format == "PNG" and "exif" not in image.info:
        xmp = image.info.get("XML:com.adobe.xmp") or image.info.get("xmp") or ""
        text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
        match = _XMP_ORIENTATION.search(text)
        return int(match.group(2)) if match else 1
    return image.getexif().get(_EXIF_ORIENTATION_TAG, 1)


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
