"""Turning request values (base64 text, bytes, files) into RGB PIL images, with errors a
client can act on."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from PIL import Image, UnidentifiedImageError

from automl.engine.data.images import LazyImage
from automl.engine.predict._base import PredictError

# (width, height) of an image -> the smallest (width, height) its prediction needs, or None
DecodeFit = Callable[[int, int], "tuple[int, int] | None"]


class InputError(PredictError):
    """A scoring input is malformed (bad base64, not an image, bad JSON item)."""


def decode_base64(text: str, where: str = "image") -> bytes:
    """Strict base64 (newlines allowed, as base64.encodebytes writes them)."""
    cleaned = "".join(text.split())
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(
            f"{where}: not valid base64 ({exc})",
            hint="send base64.b64encode(open(path, 'rb').read()).decode() per image",
        ) from None


def open_image_bytes(
    data: bytes, where: str = "image", fit: DecodeFit | None = None
) -> Image.Image:
    """Decode image bytes into 8-bit RGB with EXIF orientation applied; `fit(width, height)`
    may name the smallest size the caller needs (JPEGs then decode at reduced scale)."""
    try:
        image = LazyImage.from_bytes(data, where)
        return image.decode(min_size=fit(*image.size) if fit is not None else None)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(
            f"{where}: the bytes are not an image Pillow can read ({type(exc).__name__})",
            hint="send JPEG, PNG, BMP, GIF, TIFF or WebP bytes, base64-encoded",
        ) from None


def image_from_value(
    value: str | bytes | bytearray, where: str = "image", fit: DecodeFit | None = None
) -> Image.Image:
    """A request value: raw bytes, or base64 text (`fit`: see open_image_bytes)."""
    if isinstance(value, bytes | bytearray):
        return open_image_bytes(bytes(value), where, fit)
    if not isinstance(value, str):
        raise InputError(
            f"{where}: expected base64 text, got {type(value).__name__}",
            hint="each item of input_data.data is a base64 string (or a JSON string)",
        )
    return open_image_bytes(decode_base64(value, where), where, fit)


def parse_data_item(value: object, where: str = "image") -> tuple[str | bytes, dict | None]:
    """One `input_data.data` item: plain base64 -> (base64, None); a JSON string with
    `image_base64` (reference §7.3) -> (base64, options)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            item = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: looks like JSON but does not parse ({exc})") from None
        if not isinstance(item, dict) or not isinstance(item.get("image_base64"), str):
            raise InputError(
                f"{where}: a JSON item needs an 'image_base64' string",
                hint='{"image_base64": "<b64>", "model_explainability": true}',
            )
        return item["image_base64"], item
    if not isinstance(value, str | bytes | bytearray):
        raise InputError(f"{where}: expected a base64 string, got {type(value).__name__}")
    return value, None
