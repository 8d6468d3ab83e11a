"""Turning request values (base64 text, bytes, files) into RGB PIL images, with errors a
client can act on."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from automl.engine.data.images import LazyImage, PixelLimitError
from automl.engine.predict._base import PredictError

# (width, height) of an image -> the smallest (width, height) its prediction needs, or None
DecodeFit = Callable[[int, int], "tuple[int, int] | None"]


_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_DEPTH_CHUNK = 1 << 20


class InputError(PredictError):
    """A scoring input is malformed (bad base64, not an image, bad JSON item), or over a
    bound (`limit` then holds the bound)."""

    def __init__(self, message: str, *, hint: str | None = None, limit: int | None = None):
        super().__init__(message, hint=hint)
        self.limit = limit


def load_json_bounded(text: str | bytes, where: str) -> object:
    """`json.loads`, after checking, without parsing, that `text` nests no deeper than
    `request_json_depth` and holds no more values than `request_json_values`
    (schemas/limits.json): a deep nest would end in a RecursionError, many small values
    take ten times their bytes once parsed."""
    from automl.schemas import limit

    data = text.encode() if isinstance(text, str) else text
    n_open = data.count(b"[") + data.count(b"{")
    n_values = data.count(b'"') // 2 + data.count(b",") + n_open + 1  # an upper bound
    max_values, max_depth = limit("request_json_values"), limit("request_json_depth")
    if n_values > max_values:
        what = f"the JSON holds about {n_values:,} values"
        raise _json_too_large(where, what, "request_json_values", max_values)
    # fewer brackets than the bound cannot nest deeper (the common case: no scan at all)
    if n_open > max_depth and (depth := json_depth(data)) > max_depth:
        what = f"the JSON nests {depth:,} levels deep"
        raise _json_too_large(where, what, "request_json_depth", max_depth)
    return json.loads(data)


def _json_too_large(where: str, what: str, name: str, bound: int) -> InputError:
    from automl.schemas import limit_hint

    message = f"{where}: {what}; the limit is {bound:,}"
    return InputError(message, hint=limit_hint(name), limit=bound)


def json_outside_strings(data: bytes) -> bytes:
    """The bytes of a JSON text outside its strings, at C speed: once escaped backslashes
    and then escaped quotes are dropped, every quote left opens or closes a string."""
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.split(b'"')[0::2])


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, strings skipped."""
    brackets = json_outside_strings(data).translate(None, _NOT_BRACKETS)
    codes = np.frombuffer(brackets, dtype=np.uint8)
    depth = deepest = 0
    for start in range(0, len(codes), _DEPTH_CHUNK):
        # '[' and '{' have bit 1 set, ']' and '}' do not: +1 and -1
        steps = (codes[start : start + _DEPTH_CHUNK] & 2).astype(np.int64) - 1
        running = np.cumsum(steps) + depth
        deepest, depth = max(deepest, int(running.max())), int(running[-1])
    return deepest


def decode_base64(text: str, where: str = "image") -> bytes:
    """Strict base64 (newlines allowed, as base64.encodebytes writes them)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass  # line breaks (or an error: said below, once they are dropped)
    cleaned = "".join(text.split())
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(
            f"{where}: not valid base64 ({exc})",
            hint="send base64.b64encode(open(path, 'rb').read()).decode() per image",
        ) from None


def open_image_bytes(
    data: bytes, where: str = "image", fit: DecodeFit | None = None, max_pixels: int | None = None
) -> Image.Image:
    """Decode image bytes into 8-bit RGB with EXIF orientation applied; `fit(width, height)`
    may name the smallest size the caller needs (JPEGs then decode at reduced scale).
    Images decoding to more than `max_pixels` (default: the `image_pixels` bound) are
    refused before decoding."""
    from automl.schemas import limit

    image = lazy_image_bytes(data, where)
    min_size = fit(*image.size) if fit is not None else None
    pixels = limit("image_pixels") if max_pixels is None else max_pixels
    check_image_pixels(image, min_size, pixels, where)
    return decode_lazy(image, min_size, where)


def lazy_image_bytes(data: bytes, where: str = "image") -> LazyImage:
    """Image bytes opened (the header read, nothing decoded); InputError when they are not
    an image, or declare more pixels than Pillow's decompression-bomb bound."""
    try:
        return LazyImage.from_bytes(data, where)
    except Image.DecompressionBombError:
        bound = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise InputError(
            f"{where}: the image declares more than {bound:,} pixels (Pillow's "
            "decompression-bomb bound)",
            hint="send a smaller image",
            limit=bound,
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise _not_an_image(where, exc) from None


def check_image_pixels(
    image: LazyImage, min_size: tuple[int, int] | None, max_pixels: int, where: str
) -> int:
    """The pixels `image` decodes to for `min_size`; InputError (with `limit`) past
    `max_pixels`."""
    from automl.schemas import limit_hint

    try:
        return image.check_pixels(min_size, max_pixels)
    except PixelLimitError as exc:
        message = exc.message.replace(image.location, where, 1)
        raise InputError(message, hint=limit_hint("image_pixels"), limit=exc.limit) from None


def decode_lazy(image: LazyImage, min_size: tuple[int, int] | None, where: str) -> Image.Image:
    """`image.decode(min_size)`, a corrupt image as an InputError."""
    try:
        return image.decode(min_size=min_size)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _not_an_image(where, exc) from None


def _not_an_image(where: str, exc: Exception) -> InputError:
    return InputError(
        f"{where}: the bytes are not an image Pillow can read ({type(exc).__name__})",
        hint="send JPEG, PNG, BMP, GIF, TIFF or WebP bytes, base64-encoded",
    )


def image_from_value(
    value: str | bytes | bytearray,
    where: str = "image",
    fit: DecodeFit | None = None,
    max_pixels: int | None = None,
) -> Image.Image:
    """A request value: raw bytes, or base64 text (`fit`, `max_pixels`: see
    open_image_bytes)."""
    return open_image_bytes(value_bytes(value, where), where, fit, max_pixels)


def value_bytes(value: str | bytes | bytearray, where: str = "image") -> bytes:
    """The encoded image of a request value: raw bytes, or base64 text decoded."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str):
        raise InputError(
            f"{where}: expected base64 text, got {type(value).__name__}",
            hint="each item of input_data.data is a base64 string (or a JSON string)",
        )
    return decode_base64(value, where)


def parse_data_item(value: object, where: str = "image") -> tuple[str | bytes, dict | None]:
    """One `input_data.data` item: plain base64 -> (base64, None); a JSON string with
    `image_base64` (docs/azure-compatibility.md §7.3) -> (base64, options)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            item = load_json_bounded(value, where)
        except (json.JSONDecodeError, UnicodeEncodeError) as exc:
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
