"""A metrics.jsonl record as flat metric names and numbers, the same names for MLflow and
TensorBoard: `train/loss`, `train/images_per_s`, `lr`, `valid/<metric>`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_PARAM_CHARS = 500  # MLflow stores parameter values as text of bounded length


def epoch_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """The numeric, finite values of one evaluation record (lists and texts are left out)."""
    metrics: dict[str, float] = {}
    _add(metrics, "lr", record.get("lr"))
    for group in ("train", "valid"):
        for name, value in (record.get(group) or {}).items():
            _add(metrics, f"{group}/{name}", value)
    return metrics


def prefixed_metrics(values: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The numeric, finite entries of `values`, named `<prefix><name>`."""
    metrics: dict[str, float] = {}
    for name, value in values.items():
        _add(metrics, f"{prefix}{name}", value)
    return metrics


def _add(metrics: dict[str, float], name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if math.isfinite(value):
        metrics[name] = float(value)


def param_values(parameters: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as MLflow keeps them: text, at most MAX_PARAM_CHARS, None left out."""
    return {
        str(key): str(value)[:MAX_PARAM_CHARS]
        for key, value in parameters.items()
        if value is not None
    }
