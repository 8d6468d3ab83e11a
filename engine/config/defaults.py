"""Stage 6: fill every default, in a pass of its own after validation.

Defaults come only from `automl.schemas`: the `default` keywords of the task's schema, and
the per-model table of models.json. Precedence for one trial's hyperparameters:
user training_parameters and sampled values > per-model defaults > task defaults.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from automl import schemas


def fill_schema_defaults(instance: dict, schema: dict, defs: dict) -> dict:
    """Add the `default` of every missing property, recursing into present mappings."""
    for key, spec in schema.get("properties", {}).items():
        spec = _resolve_ref(spec, defs)
        if key not in instance and "default" in spec:
            instance[key] = copy.deepcopy(spec["default"])
        if isinstance(instance.get(key), dict) and "properties" in spec:
            fill_schema_defaults(instance[key], spec, defs)
    return instance


def _resolve_ref(spec: Any, defs: dict) -> dict:
    """Follow a local `$ref` (siblings win over the target, as in 2020-12 annotations)."""
    if not isinstance(spec, dict) or "$ref" not in spec:
        return spec if isinstance(spec, dict) else {}
    target: Any = {"$defs": defs}
    for part in spec["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    merged = {**_resolve_ref(target, defs), **spec}
    merged.pop("$ref")
    return merged


def fill_job_defaults(data: dict, task: str) -> tuple[dict, list[str]]:
    """The resolved job: `data` (normalised, valid) with every default filled.

    Returns it with the training parameters whose default differs between the models a sweep
    can pick (they are resolved per trial, so the job shows none).
    """
    resolved = copy.deepcopy(data)
    schema = schemas.load_schema(task)
    user_parameters = resolved.pop("training_parameters", None) or {}
    search_space = resolved.get("search_space") or []
    fill_schema_defaults(resolved, _without(schema, "training_parameters"), schema["$defs"])
    if "validation_data" in resolved:
        resolved.pop("validation_data_size", None)  # only used to split training_data
    _cap_concurrent_trials(resolved["limits"])
    if "sweep" in resolved:
        resolved["sweep"]["sampling_algorithm"] = sampling_algorithm_object(
            resolved["sweep"]["sampling_algorithm"]
        )
    parameters, per_trial = job_training_parameters(task, user_parameters, search_space)
    resolved["training_parameters"] = parameters
    return _in_schema_order(resolved, schema), per_trial


def _without(schema: dict, key: str) -> dict:
    props = {k: v for k, v in schema["properties"].items() if k != key}
    return {**schema, "properties": props}


def _cap_concurrent_trials(limits: dict) -> None:
    # Azure caps silently; we cap too, and check_concurrent_trials_capped tells the user.
    limits["max_concurrent_trials"] = min(limits["max_concurrent_trials"], limits["max_trials"])


def sampling_algorithm_object(value: str | dict) -> dict:
    """'random' or {type: random, ...} -> {type: random, seed: None, rule: random} (the
    keys and defaults of the sampler's object form in the schema)."""
    spec = {"type": value} if isinstance(value, str) else dict(value)
    return {"type": spec["type"], **schemas.sampler_options(spec["type"]), **spec}


def job_training_parameters(
    task: str, user: dict, search_space: list[dict]
) -> tuple[dict, list[str]]:
    """training_parameters of the resolved job, and the keys left to each trial.

    Keys a sub-space searches are left out (the search sets them). The model is the fixed
    one, else the task's default; when the search picks models, a default that differs
    between them is left to each trial.
    """
    searched = {key for sub in search_space for key in sub}
    models = _job_models(task, user, search_space, searched)
    parameters: dict[str, Any] = {}
    per_trial: list[str] = []
    for key, task_default in schemas.task_defaults(task).items():
        if key in searched or key in user:
            continue
        candidates = _defaults_for(task, key, task_default, models)
        if len(candidates) > 1:
            per_trial.append(key)
        elif candidates:
            parameters[key] = candidates[0]
    parameters.update(copy.deepcopy(user))
    if "advanced_settings" in parameters:
        parameters["advanced_settings"] = json.dumps(
            parse_advanced_settings(parameters["advanced_settings"])
        )
    return dict(sorted(parameters.items())), per_trial


def _job_models(task: str, user: dict, search_space: list[dict], searched: set) -> list[str]:
    if "model_name" in user or "model_name" not in searched:
        return [user.get("model_name") or schemas.default_model(task)]
    models: list[str] = []
    for sub in search_space:
        value = sub.get("model_name", schemas.default_model(task))
        for model in value.get("values", []) if isinstance(value, dict) else [value]:
            if model not in models:
                models.append(model)
    return models


def subspace_defaults(
    task: str, user: dict, sub: dict, keys: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """What the trials of sub-space `sub` use for `keys` that other sub-spaces search.

    Returns (key -> the one value its trials use, keys whose value depends on the model a
    trial picks). Keys fixed in training_parameters, searched by `sub` itself, or that no
    model of `sub` takes are in neither.
    """
    models = _job_models(task, user, [sub], set(sub))
    task_defaults = schemas.task_defaults(task)
    values: dict[str, Any] = {}
    varying: list[str] = []
    for key in keys:
        if key in sub or key in user or key not in task_defaults:
            continue
        found = _defaults_for(task, key, task_defaults[key], models)
        taking = [m for m in models if key not in schemas.excluded_keys(m)]
        if len(found) == 1 and len(taking) == len(models):
            values[key] = found[0]
        elif found:
            varying.append(key)
    return values, varying


def _defaults_for(task: str, key: str, task_default: Any, models: list[str]) -> list[Any]:
    """The distinct defaults of `key` over `models` that take it ([] if none takes it)."""
    values: list[Any] = []
    for model in models:
        if key in schemas.excluded_keys(model):
            continue
        value = schemas.model_defaults(task, model).get(key, task_default)
        if value not in values:
            values.append(value)
    return values


def parse_advanced_settings(value: str | dict | None) -> dict:
    """The advanced_settings JSON (already validated) as a dict with every default filled."""
    given = json.loads(value) if isinstance(value, str) else dict(value or {})
    return {**schemas.advanced_settings_defaults(), **given}


def _in_schema_order(resolved: dict, schema: dict) -> dict:
    order = list(schema["properties"])
    return {key: resolved[key] for key in sorted(resolved, key=order.index)}
