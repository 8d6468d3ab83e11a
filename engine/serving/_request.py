"""Azure's scoring request (reference §7.1, §7.3): parsed and checked, with messages."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from PIL import Image

from automl.engine.data.images import LazyImage
from automl.engine.predict import InputError, parse_data_item
from automl.engine.predict.inputs import (
    DecodeFit,
    check_image_pixels,
    decode_lazy,
    lazy_image_bytes,
    load_json_bounded,
    value_bytes,
)
from automl.engine.serving._errors import RequestError
from automl.engine.serving._limits import ServingLimits

XAI_PARAMETERS = {  # Azure's xai_parameters name -> explain_images keyword
    "xai_algorithm": "method",
    "n_steps": "n_steps",
    "xrai_fast": "xrai_fast",
    "approximation_method": "approximation_method",
    "confidence_score_threshold_multilabel": "confidence_score_threshold_multilabel",
    "visualizations": "visualizations",
    "attributions": "attributions",
    # D-RISE's, for detection and segmentation models (our extension)
    "n_masks": "n_masks",
    "mask_res": "mask_res",
    "seed": "seed",
}
# Azure's defaults when model_explainability is true (§7.3): attributions are opt-in. The
# method is the task's default (xrai; drise for detection and segmentation).
XAI_DEFAULTS = {"visualizations": True, "attributions": False}


@dataclass
class ScoreItem:
    """One image of a request and, for XAI items, the explain_images keywords."""

    value: str | bytes
    where: str
    explain: dict | None = None
    options: dict = field(default_factory=dict)
    image: LazyImage | None = None  # opened by `open_items`: header read, not decoded
    min_size: tuple[int, int] | None = None  # the decode the prediction needs


class Cancelled(Exception):
    """The request's client left, or its time ran out: stop working on it."""


def parse_score_request(body: bytes, limits: ServingLimits | None = None) -> list[ScoreItem]:
    """`{"input_data": {"columns": ["image"], "data": [...]}}` -> one ScoreItem per image,
    within `limits` (default: ServingLimits.resolve())."""
    limits = limits or ServingLimits.resolve()
    try:
        document = load_json_bounded(body, "the request body")
    except InputError as exc:
        raise RequestError(exc.message, hint=exc.hint, limit=exc.limit) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(f"the request body is not JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("input_data"), dict):
        raise RequestError(
            "the request needs an 'input_data' object",
            hint='{"input_data": {"columns": ["image"], "data": ["<base64 image>"]}}',
        )
    table = document["input_data"]
    if table.get("columns") != ["image"]:
        raise RequestError(
            f'input_data.columns must be exactly ["image"], got {table.get("columns")!r}',
            hint='send {"input_data": {"columns": ["image"], "data": [...]}}',
        )
    data = table.get("data")
    if not isinstance(data, list) or not data:
        raise RequestError("input_data.data must be a non-empty list of base64 images")
    if len(data) > limits.items:
        raise limits.refuse(
            "items", f"the request has {len(data):,} images; the limit is {limits.items:,}"
        )
    items = [_item(row, f"input_data.data[{i}]", limits) for i, row in enumerate(data)]
    n_explained = sum(1 for item in items if item.explain is not None)
    if n_explained > limits.xai_items:
        raise limits.refuse(
            "xai_items",
            f"the request asks {n_explained} explanations (model_explainability); the limit "
            f"is {limits.xai_items}",
        )
    return items


def _item(row: object, where: str, limits: ServingLimits) -> ScoreItem:
    if isinstance(row, list):  # MLflow's split orientation: one value per column
        if len(row) != 1:
            raise RequestError(f"{where}: a row has {len(row)} values for 1 column ('image')")
        row = row[0]
    try:
        value, options = parse_data_item(row, where)
    except InputError as exc:
        raise RequestError(exc.message, hint=exc.hint, limit=exc.limit) from None
    if not options or not options.get("model_explainability"):
        return ScoreItem(value, where)
    return ScoreItem(value, where, explain=_xai_keywords(options, where, limits))


def _xai_keywords(options: dict, where: str, limits: ServingLimits) -> dict:
    parameters = options.get("xai_parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(f"{where}: xai_parameters must be an object")
    unknown = sorted(set(parameters) - set(XAI_PARAMETERS))
    if unknown:
        raise RequestError(
            f"{where}: unknown xai_parameters {', '.join(unknown)}",
            hint="known: " + ", ".join(XAI_PARAMETERS),
        )
    keywords = {**XAI_DEFAULTS, **{XAI_PARAMETERS[k]: v for k, v in parameters.items()}}
    steps = keywords.get("n_steps")
    if isinstance(steps, int | float) and steps > limits.xai_steps:
        raise limits.refuse(
            "xai_steps",
            f"{where}: xai_parameters.n_steps is {steps}; the limit is {limits.xai_steps}",
            status=400,
        )
    return keywords


def prepare_items(
    body: bytes, fit: DecodeFit | None, limits: ServingLimits
) -> tuple[list[ScoreItem], int]:
    """`parse_score_request` then `open_items`: the items and the pixels they decode to."""
    items = parse_score_request(body, limits)
    return items, open_items(items, fit, limits)


def open_items(items: list[ScoreItem], fit: DecodeFit | None, limits: ServingLimits) -> int:
    """Open every item's image (headers only) and return the pixels decoding them takes;
    413 for an image over `image_pixels` or a request over `request_pixels`. Runs in a
    worker thread. `fit`: the predictor's decode_size; items asking for explanations decode
    in full (as `automl model explain` does)."""
    total = 0
    try:
        for item in items:
            item.image = lazy_image_bytes(value_bytes(item.value, item.where), item.where)
            item.min_size = fit(*item.image.size) if fit and item.explain is None else None
            total += check_image_pixels(item.image, item.min_size, limits.image_pixels, item.where)
    except InputError as exc:
        close_items(items)
        status = 400 if exc.limit is None else 413
        raise RequestError(exc.message, status, hint=exc.hint, limit=exc.limit) from None
    if total > limits.request_pixels:
        close_items(items)
        raise limits.refuse(
            "request_pixels",
            f"the request's images decode to {total:,} pixels; the limit is "
            f"{limits.request_pixels:,}",
        )
    return total


def decode_items(items: list[ScoreItem], cancelled: threading.Event) -> list[Image.Image]:
    """The RGB images of items opened by `open_items` (in a worker thread: decoding is CPU
    work); stops with Cancelled between images once `cancelled` is set."""
    images = []
    try:
        for item in items:
            if cancelled.is_set():
                raise Cancelled
            images.append(decode_lazy(item.image, item.min_size, item.where))
    except InputError as exc:
        raise RequestError(exc.message, hint=exc.hint) from None
    finally:
        close_items(items)
    return images


def close_items(items: list[ScoreItem]) -> None:
    """Drop the opened images (and the encoded bytes they hold)."""
    for item in items:
        if item.image is not None:
            item.image.close()
            item.image = None
