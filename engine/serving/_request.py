"""Azure's scoring request (reference §7.1, §7.3): parsed and checked, with messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from automl.engine.errors import AutomlError
from automl.engine.predict import InputError, image_from_value, parse_data_item
from automl.engine.predict.inputs import DecodeFit

XAI_PARAMETERS = {  # Azure's xai_parameters name -> explain_images keyword
    "xai_algorithm": "method",
    "n_steps": "n_steps",
    "xrai_fast": "xrai_fast",
    "approximation_method": "approximation_method",
    "confidence_score_threshold_multilabel": "confidence_score_threshold_multilabel",
    "visualizations": "visualizations",
    "attributions": "attributions",
}
# Azure's defaults when model_explainability is true (§7.3): attributions are opt-in.
XAI_DEFAULTS = {"method": "xrai", "visualizations": True, "attributions": False}


class RequestError(AutomlError):
    """A client error: `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


@dataclass
class ScoreItem:
    """One image of a request and, for XAI items, the explain_images keywords."""

    value: str | bytes
    where: str
    explain: dict | None = None
    options: dict = field(default_factory=dict)


def parse_score_request(body: bytes) -> list[ScoreItem]:
    """`{"input_data": {"columns": ["image"], "data": [...]}}` -> one ScoreItem per image."""
    try:
        document = json.loads(body)
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
    return [_item(row, f"input_data.data[{i}]") for i, row in enumerate(data)]


def _item(row: object, where: str) -> ScoreItem:
    if isinstance(row, list):  # MLflow's split orientation: one value per column
        if len(row) != 1:
            raise RequestError(f"{where}: a row has {len(row)} values for 1 column ('image')")
        row = row[0]
    try:
        value, options = parse_data_item(row, where)
    except InputError as exc:
        raise RequestError(str(exc)) from None
    if not options or not options.get("model_explainability"):
        return ScoreItem(value, where)
    return ScoreItem(value, where, explain=_xai_keywords(options, where))


def _xai_keywords(options: dict, where: str) -> dict:
    parameters = options.get("xai_parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(f"{where}: xai_parameters must be an object")
    unknown = sorted(set(parameters) - set(XAI_PARAMETERS))
    if unknown:
        raise RequestError(
            f"{where}: unknown xai_parameters {', '.join(unknown)}",
            hint="known: " + ", ".join(XAI_PARAMETERS),
        )
    return {**XAI_DEFAULTS, **{XAI_PARAMETERS[k]: v for k, v in parameters.items()}}


def decode_items(items: list[ScoreItem], fit: DecodeFit | None = None) -> list:
    """PIL images of the items (run in a worker thread: decoding is CPU work). `fit`: the
    predictor's decode_size; items asking for explanations decode in full (the
    visualisations are drawn on the image)."""
    images = []
    for item in items:
        try:
            images.append(image_from_value(item.value, item.where, None if item.explain else fit))
        except InputError as exc:
            raise RequestError(str(exc)) from None
    return images
