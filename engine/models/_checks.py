"""Checks of a model package's content: everything in it is data to validate, never code.

A package names a task and a registered model; the model is rebuilt by our own builder
from our registry (never from a name, module path or YAML taken from the package), its
tensors come from `torch.load(weights_only=True)`, and every other value (labels,
settings.json, MLmodel) is checked for type, range and size before use. Any problem is a
`PackageError` naming the file, the key, the value and the rule.
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from functools import lru_cache
from pathlib import Path

import torch

from automl.engine.errors import AutomlError, LimitError

LOADER_MODULE = "automl.engine.predict.mlflow_loader"
# where packages written before the loader moved beside the predictor point (same loader)
LEGACY_LOADER_MODULES = ("automl.engine.models.mlflow_loader",)
SETTINGS_FILE = "settings.json"
LABELS_FILE = "labels.json"
MLMODEL_FILE = "MLmodel"
MAX_QUOTED_CHARS = 80  # how much of a bad value an error quotes
RECORD_TYPES = {
    "task": str,
    "model_name": str,
    "labels": list,
    "settings": dict,
    "training_parameters": dict,
    "state_dict": dict,
}


class PackageError(AutomlError):
    """A model package is malformed or holds something this tool does not load."""


def quoted(value: object) -> str:
    """repr(value), cut to MAX_QUOTED_CHARS (errors never quote a whole hostile value)."""
    text = repr(value)
    return text if len(text) <= MAX_QUOTED_CHARS else text[: MAX_QUOTED_CHARS - 3] + "..."


def package_error(where: object, problem: str) -> PackageError:
    return PackageError(
        f"{where}: {problem}",
        hint="load only model packages written by automl-vision trials (re-train or re-export "
        "the model, or restore the package from its source)",
    )


# ---- model.pt -------------------------------------------------------------------------


def check_record(record: object, path: Path) -> dict:
    """model.pt's dictionary: key types, a registered model of its task, bounded labels,
    tensors only in the state dict."""
    if not isinstance(record, dict):
        raise package_error(path, f"holds a {type(record).__name__}, not a model record")
    for key, kind in RECORD_TYPES.items():
        if not isinstance(record.get(key), kind):
            raise package_error(
                path, f"{key} is {quoted(record.get(key))}, expected a {kind.__name__}"
            )
    check_model_of_task(record["model_name"], record["task"], path)
    check_labels(record["labels"], f"{path}: labels")
    for key, value in record["state_dict"].items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise package_error(path, f"state_dict entry {quoted(key)} is not a named tensor")
    if "model_yaml" in record and not isinstance(record["model_yaml"], dict):
        raise package_error(path, f"model_yaml is {quoted(record['model_yaml'])}, not a mapping")
    return record


def check_model_of_task(model_name: str, task: str, path: Path) -> None:
    """The package's model must be one of our registry's models of its task."""
    from automl.engine.models._base import MODELS

    if model_name not in MODELS:
        raise package_error(
            path, f"model_name {quoted(model_name)} is not a model this installation knows"
        )
    tasks = MODELS.get(model_name).tasks
    if task not in tasks:
        raise package_error(
            path, f"task {quoted(task)} is not a task of model {model_name} ({', '.join(tasks)})"
        )


def check_labels(labels: object, where: str) -> list[str]:
    """A list of at most `model_labels` strings."""
    from automl.schemas import limit, limit_hint

    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise package_error(where, f"{quoted(labels)} is not a list of label strings")
    if not labels:
        raise package_error(where, "no labels (a model needs at least one class)")
    if len(labels) > limit("model_labels"):
        raise LimitError(
            f"{where}: {len(labels):,} labels, over the limit of {limit('model_labels'):,}",
            hint=limit_hint("model_labels"),
        )
    return labels


# ---- settings.json, labels.json, MLmodel ----------------------------------------------


def read_json_file(path: Path) -> object:
    """A bounded, regular JSON file of the package; any problem names the file."""
    from automl.engine.utils.files import read_text_bounded

    text = read_text_bounded(path, "package_json_bytes", "model package file")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise package_error(path, f"not valid JSON ({str(exc)[:MAX_QUOTED_CHARS]})") from None


def read_settings_file(folder: Path, task: str) -> dict | None:
    """settings.json of the package (None when absent), checked for `task`."""
    path = folder / SETTINGS_FILE
    if not os.path.lexists(path):
        return None
    settings = read_json_file(path)
    if not isinstance(settings, dict):
        raise package_error(path, f"holds {quoted(settings)}, not a JSON object")
    return check_settings(settings, task, path)


def read_labels_file(folder: Path) -> list[str] | None:
    """labels.json of the package (None when absent): a list of strings (model.pt's labels
    are the ones used; this file is for other tools)."""
    path = folder / LABELS_FILE
    if not os.path.lexists(path):
        return None
    return check_labels(read_json_file(path), str(path))


def check_settings(settings: dict, task: str, where: object) -> dict:
    """Types and ranges of inference settings: training parameters (by their runtime
    names) against job.schema.json, the others against package_settings.schema.json, and
    every image side within `model_input_side`."""
    from jsonschema.exceptions import ValidationError

    for key in settings:
        if not isinstance(key, str):
            raise package_error(where, f"key {quoted(key)} is not a string")
    try:
        settings_validator(task).validate(settings)
    except ValidationError as exc:
        key = ".".join(str(part) for part in exc.absolute_path) or "(top level)"
        raise package_error(
            where, f"{key}={quoted(exc.instance)}: {exc.message[:MAX_QUOTED_CHARS]}"
        ) from None
    check_image_sides(settings, where)
    return settings


def check_image_sides(settings: dict, where: object) -> None:
    from automl.schemas import limit, limit_hint

    bound = limit("model_input_side")
    for key in package_settings_schema()["x-image-side-keys"]:
        value = settings.get(key)
        if isinstance(value, int | float) and value > bound:
            raise LimitError(
                f"{where}: {key}={quoted(value)} is over the limit of {bound:,} pixels",
                hint=limit_hint("model_input_side"),
            )


@lru_cache(maxsize=8)
def settings_validator(task: str):
    """A validator of settings.json for `task` (unknown keys pass: users may add keys)."""
    from jsonschema import Draft202012Validator

    from automl.schemas import (
        TASKS,
        hyperparameter_schema,
        load_schema,
        runtime_names,
        training_parameter_names,
    )

    properties = {}
    if task in TASKS:
        names = runtime_names(task)
        for name in training_parameter_names(task):
            with suppress(KeyError):  # model_name: a registry name, checked on its own
                properties[names.get(name, name)] = hyperparameter_schema(name)
    properties.update(package_settings_schema()["properties"])
    schema = {"type": "object", "properties": properties, "$defs": load_schema()["$defs"]}
    return Draft202012Validator(schema)


def package_settings_schema() -> dict:
    from automl.schemas import package_settings_schema as schema

    return schema()


def check_mlmodel(folder: Path) -> None:
    """MLflow imports the `loader_module` an MLmodel names and puts its `code` paths on
    sys.path: only our own loader, with no code, is accepted."""
    path = folder / MLMODEL_FILE
    if not os.path.lexists(path):
        return
    flavor = mlmodel_flavor(path)
    accepted = (LOADER_MODULE, *LEGACY_LOADER_MODULES)
    if flavor.get("loader_module") not in accepted or "code" in flavor:
        raise package_error(
            path,
            f"python_function flavor names loader_module "
            f"{quoted(flavor.get('loader_module'))}"
            + (" and code paths" if "code" in flavor else "")
            + f"; only {LOADER_MODULE} without code is accepted",
        )


def mlmodel_flavor(path: Path) -> dict:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from automl.engine.utils.files import read_text_bounded

    text = read_text_bounded(path, "package_json_bytes", "model package file")
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except (YAMLError, RecursionError, ValueError) as exc:
        raise package_error(path, f"not valid YAML ({str(exc)[:MAX_QUOTED_CHARS]})") from None
    flavors = document.get("flavors") if isinstance(document, dict) else None
    flavor = flavors.get("python_function") if isinstance(flavors, dict) else None
    if not isinstance(flavor, dict):
        raise package_error(path, "has no flavors.python_function mapping")
    return flavor
