"""Azure's scoring request (docs/azure-compatibility.md §7.1, §7.3): parsed and checked, with
messages."""

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
LIST_FORM_TOP_K = 5  # the transformers image-classification pipeline's default top_k


@dataclass
class ScoreItem:
    """One image of a request and, for XAI items, the explain_images keywords."""

    value: str | bytes
    where: str
    explain: dict | None = None
    options: dict = field(default_factory=dict)
    image: LazyImage | None = None  # opened by `open_items`: header read, not decoded
    min_size: tuple[int, int] | None = None  # the decode the prediction needs
    list_form: bool = False  # sent as Azure's Transformers list form: answered in it


class Cancelled(Exception):
    """The request's client left, or its time ran out: stop working on it."""


def parse_score_request(body: bytes, limits: ServingLimits | None = None) -> list[ScoreItem]:
    """`{"input_data": {"columns": ["image"], "data": [...]}}`, or Azure's Transformers
    list form `{"input_data": ["<base64>", ...]}` (docs/azure-compatibility.md §15.4) ->
    one ScoreItem per image, within `limits` (default: ServingLimits.resolve())."""
    limits = limits or ServingLimits.resolve()
    try:
        document = load_json_bounded(body, "the request body")
    except InputError as exc:
        raise RequestError(exc.message, hint=exc.hint, limit=exc.limit) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(f"the request body is not JSON ({exc})") from None
    table = document.get("input_data") if isinstance(document, dict) else None
    if not isinstance(table, dict | list):
        raise RequestError(
            "the request needs an 'input_data' object or list",
            hint='{"input_data": {"columns": ["image"], "data": ["<base64 image>"]}} or '
            '{"input_data": ["<base64 image>"]}',
        )
    data = table if isinstance(table, list) else table_rows(table)
    where = "input_data" if isinstance(table, list) else "input_data.data"
    if not isinstance(data, list) or not data:
        raise RequestError(f"{where} must be a non-empty list of base64 images")
    if len(data) > limits.items:
        raise limits.refuse(
            "items", f"the request has {len(data):,} images; the limit is {limits.items:,}"
        )
    items = [_item(row, f"{where}[{i}]", limits) for i, row in enumerate(data)]
    for item in items:
        item.list_form = isinstance(table, list)
    n_explained = sum(1 for item in items if item.explain is not None)
    if n_explained > limits.xai_items:
        raise limits.refuse(
            "xai_items",
            f"the request asks {n_explained} explanations (model_explainability); the limit "
            f"is {limits.xai_items}",
        )
    return items


def table_rows(table: dict) -> object:
    """The `data` of the columns form, once its `columns` are checked."""
    if table.get("columns") != ["image"]:
        raise RequestError(
            f'input_data.columns must be exactly ["image"], got {table.get("columns")!r}',
            hint='send {"input_data": {"columns": ["image"], "data": [...]}}',
        )
    return table.get("data")


def list_form_result(result: dict, top_k: int = LIST_FORM_TOP_K) -> dict:
    """A classifier's result as Azure's Transformers endpoints answer the list form: the
    top classes by rank, `{"0": {"label", "score"}, "1": ...}` (its notebooks read
    `response[0]["0"]["label"]`); other keys (explanations) kept. Results of detectors
    and segmenters have no such form and are returned as they are."""
    if "probs" not in result or "labels" not in result:
        return result
    ranked = sorted(zip(result["probs"], result["labels"], strict=True), reverse=True)
    answer = {str(rank): {"label": label, "score": score} for rank, (score, label) in
              enumerate(ranked[:top_k])}  # fmt: skip
    extra = {k: v for k, v in result.items() if k not in ("probs", "labels")}
    return {**answer, **extra}


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
