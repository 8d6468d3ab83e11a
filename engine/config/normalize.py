"""Stage 3: Azure's enum spellings, made canonical before validation.

Azure matches enum values case-insensitively after a camelCase -> snake_case transform, so
`Random`, `MeanAveragePrecision` and `mean_average_precision` are one value. We compare
values with case, `_` and `-` ignored against the schema's own enum lists and replace a
match by the canonical spelling (which `resolved` keeps). A value that matches nothing is
left alone for the schema check to report with the allowed values.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from automl import schemas
from automl.engine.config.issues import Issue, warning
from automl.engine.utils.quoting import quote

# v1 spellings Azure still accepts, mapped to the v2 value (docs/azure-compatibility.md §13).
VALUE_ALIASES = {"model_size": {"xlarge": "extra_large"}}


def canonical(value: Any, allowed: list) -> Any:
    """The member of `allowed` that `value` spells, ignoring case, '_' and '-'; else value."""
    if not isinstance(value, str):
        return value
    key = _fold(value)
    for candidate in allowed:
        if isinstance(candidate, str) and _fold(candidate) == key:
            return candidate
    return value


def _fold(text: str) -> str:
    return re.sub(r"[_\-\s]", "", text).lower()


def normalize_job(data: dict) -> list[Issue]:
    """Canonicalise every enum value of `data` in place; return notices about aliases."""
    props = _schema()["properties"]
    for key in ("task", "primary_metric", "log_verbosity"):
        if key in data:
            data[key] = canonical(data[key], props[key]["enum"])
    for key in ("training_data", "validation_data", "test_data"):
        _normalize_mltable(data.get(key))
    _normalize_sweep(data.get("sweep"))
    outputs = data.get("outputs")
    best_model = outputs.get("best_model") if _is_map(outputs) else None
    if _is_map(best_model) and "type" in best_model:
        best_model["type"] = canonical(best_model["type"], ["mlflow_model"])
    notices = []
    if _is_map(data.get("training_parameters")):
        notices += _normalize_parameters(
            data["training_parameters"], ("training_parameters",), False
        )
    if isinstance(data.get("search_space"), list):
        for index, sub in enumerate(data["search_space"]):
            if _is_map(sub):
                notices += _normalize_parameters(sub, ("search_space", index), True)
    return notices


def _normalize_mltable(value: Any) -> None:
    if not _is_map(value):
        return
    mltable = _schema()["$defs"]["mltable"]["properties"]
    for key in ("type", "mode"):
        if key in value:
            value[key] = canonical(value[key], mltable[key]["enum"])


def _normalize_sweep(sweep: Any) -> None:
    if not _is_map(sweep):
        return
    algorithms = ["random", "grid", "bayesian"]
    algorithm = sweep.get("sampling_algorithm")
    if isinstance(algorithm, str):
        sweep["sampling_algorithm"] = canonical(algorithm, algorithms)
    elif _is_map(algorithm):
        if "type" in algorithm:
            algorithm["type"] = canonical(algorithm["type"], algorithms)
        if "rule" in algorithm:
            algorithm["rule"] = canonical(algorithm["rule"], ["random", "sobol"])
    policy = sweep.get("early_termination")
    if _is_map(policy) and "type" in policy:
        policy["type"] = canonical(
            policy["type"], ["bandit", "median_stopping", "truncation_selection"]
        )


def _normalize_parameters(params: dict, where: tuple, searched: bool) -> list[Issue]:
    notices = []
    for name, value in params.items():
        allowed = _enum_of(name)
        if searched and _is_map(value):
            if "type" in value:
                value["type"] = canonical(value["type"], _distribution_names())
            if allowed and isinstance(value.get("values"), list):
                value["values"] = [
                    _value(name, v, allowed, notices, where) for v in value["values"]
                ]
        elif allowed:
            params[name] = _value(name, value, allowed, notices, where)
    return notices


def _value(name: str, value: Any, allowed: list, notices: list, where: tuple) -> Any:
    alias = VALUE_ALIASES.get(name, {}).get(_fold(value) if isinstance(value, str) else None)
    if alias is not None:
        message = f"{quote(value)} is the v1 spelling; using {alias!r}"
        notices.append(warning(where + (name,), message))
        return alias
    return canonical(value, allowed)


def _enum_of(name: str) -> list | None:
    try:
        spec = schemas.hyperparameter_schema(name)
    except KeyError:
        return None
    enum = spec.get("enum")
    return enum if enum and all(isinstance(v, str) for v in enum) else None


def _distribution_names() -> list[str]:
    return _schema()["$defs"]["distribution"]["float"]["properties"]["type"]["enum"]


@lru_cache(maxsize=1)
def _schema() -> dict:
    return schemas.load_schema()  # read-only here


def _is_map(value: Any) -> bool:
    return isinstance(value, dict)
