"""What a cross-field check sees: the normalised, schema-valid job and where its file is.

Shared by the check modules (`checks`, `checks_search`, `checks_data`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl import schemas
from automl.engine.config.issues import Issue


@dataclass
class CheckContext:
    """What a check sees: the job data (normalised, schema-valid) and where the file is."""

    data: dict
    job_dir: Path

    @property
    def task(self) -> str:
        return self.data["task"]

    @property
    def training_parameters(self) -> dict:
        return self.data.get("training_parameters") or {}

    @property
    def search_space(self) -> list[dict]:
        return self.data.get("search_space") or []

    @property
    def sweep(self) -> dict | None:
        return self.data.get("sweep")

    @property
    def algorithm(self) -> str | None:
        algorithm = (self.sweep or {}).get("sampling_algorithm")
        return algorithm.get("type") if isinstance(algorithm, dict) else algorithm

    @property
    def limits(self) -> dict:
        return self.data.get("limits") or {}


Check = Callable[[CheckContext], Iterator[Issue]]


def is_distribution(value: Any) -> bool:
    """A search-space value is a distribution when it is a mapping (`{type: ...}`)."""
    return isinstance(value, dict)


def subspace_models(ctx: CheckContext, sub: dict) -> list[str]:
    """The model names a sub-space can train: its model_name, else the fixed or default one."""
    value = sub.get("model_name", ctx.training_parameters.get("model_name"))
    if value is None:
        value = schemas.default_model(ctx.task)
    if is_distribution(value):
        return [v for v in value.get("values", []) if isinstance(v, str)]
    return [value]
