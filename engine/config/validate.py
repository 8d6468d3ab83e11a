"""Stage 4: JSON Schema validation that reports every error, each one actionable.

jsonschema's messages are turned into ours: unknown keys get a did-you-mean (or where the
key belongs, or its v2 name), enums list the allowed values, numbers say the limit, and a
hyperparameter of another task says which task it belongs to.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from automl import schemas
from automl.engine.config.issues import Issue
from automl.engine.utils.quoting import quote

# Keys users put in the wrong place: path of the misplaced key -> where it belongs.
MOVED_KEYS = {
    ("max_trials",): "limits.max_trials",
    ("max_concurrent_trials",): "limits.max_concurrent_trials",
    ("timeout_minutes",): "limits.timeout_minutes",
    ("trial_timeout_minutes",): "limits.trial_timeout_minutes",
    ("sampling_algorithm",): "sweep.sampling_algorithm",
    ("early_termination",): "sweep.early_termination",
    ("sweep", "limits"): "the top-level limits (max_trials, max_concurrent_trials)",
    ("sweep", "search_space"): "the top level (search_space: is a key of the job)",
    ("image_model",): "training_parameters (image_model is the 2022 preview name)",
    ("split_ratio",): "validation_data_size (split_ratio is the v1 name)",
}
# Keys that are distribution parameters: hints when a distribution is written wrongly.
DIST_PARAMS = ("values", "upper", "min_value", "max_value", "q", "mu", "sigma")
NAME_HINT = (
    "it becomes a folder name: start with a letter or digit, then use letters, digits, "
    "'.', '_' and '-' (at most 128 characters)"
)
PATTERN_HINTS = {
    "tile_grid_size": "expected 'WxH' with two positive integers, for example '3x2'",
    "name": NAME_HINT,
    "experiment_name": NAME_HINT,
    "model_name": "a Transformers hub id is 'org/name' (letters, digits, '.', '_', '-'; "
    "at most 96 each), for example 'google/vit-base-patch16-224'",
}


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schemas.load_schema())


def validate_job_schema(data: dict) -> list[Issue]:
    """Every schema error of `data` (the whole job), as located-ready `Issue`s."""
    issues: list[Issue] = []
    for error in _validator().iter_errors(data):
        issues.extend(issues_of_error(error, data))
    return list(dict.fromkeys(issues))


def validate_against(data: Any, schema: dict, root_path: tuple = ()) -> list[Issue]:
    """Validate `data` against a sub-schema (e.g. advanced_settings); paths start at root_path."""
    full = {**schema, "$defs": schemas.load_schema()["$defs"]}
    issues = []
    for error in Draft202012Validator(full).iter_errors(data):
        for issue in issues_of_error(error, data):
            issues.append(Issue(root_path + issue.path, issue.message, issue.level))
    return issues


def issues_of_error(error: ValidationError, root: Any) -> list[Issue]:
    """Translate one jsonschema error into our messages (several for several unknown keys)."""
    path = tuple(error.absolute_path)
    handler = _HANDLERS.get(error.validator)
    if handler is not None:
        return handler(error, path, root)
    if error.validator == "not" and error.validator_value == {}:  # key forbidden here
        return [Issue(path, _forbidden_message(path, root))]
    return [Issue(path, _quoted_message(error))]


def _quoted_message(error: ValidationError) -> str:
    """jsonschema's own message, with the value it quotes cut to the quoting bound."""
    if isinstance(error.instance, (dict, list, str)):
        return error.message.replace(repr(error.instance), quote(error.instance), 1)
    return error.message


def _additional(error: ValidationError, path: tuple, root: Any) -> list[Issue]:
    allowed = list(error.schema.get("properties", {}))
    extras = [k for k in error.instance if k not in allowed]
    n_explained = schemas.limit("job_problems")  # only these are listed: spare the rest
    return [
        Issue(path + (key,), unknown_key_message(key, allowed, path, root))
        if index < n_explained
        else Issue(path + (key,), "unknown key")
        for index, key in enumerate(extras)
    ]


def unknown_key_message(key: str, allowed: list[str], parent: tuple, root: Any) -> str:
    """'unknown key; did you mean ...?', or where the key belongs, or which task takes it."""
    allowed = [k for k in allowed if k != "$schema" or not parent]
    if parent + (key,) in MOVED_KEYS:
        return f"unknown key here; it belongs under {MOVED_KEYS[parent + (key,)]}"
    if not parent and key in _all_parameter_names():
        return (
            f"unknown key at the top level; hyperparameters belong under training_parameters.{key}"
        )
    where = _parameter_context(parent, root)
    if where:
        message = _parameter_message(key, where, root)
        if message:
            return message
    label = _distribution_label(parent, root)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key{label}; did you mean {close[0]!r}?"
    return f"unknown key{label}; allowed keys: {', '.join(allowed)}"


def _parameter_context(parent: tuple, root: Any) -> str | None:
    if parent == ("training_parameters",):
        return "training_parameters"
    if len(parent) == 2 and parent[0] == "search_space" and isinstance(parent[1], int):
        return "search_space"
    return None


def _parameter_message(key: str, where: str, root: Any) -> str | None:
    task = root.get("task") if isinstance(root, dict) else None
    runtime = _runtime_aliases().get(key)
    if runtime:
        return (
            f"unknown key; {quote(key)} is the Azure runtime (v1) name, the job key is {runtime!r}"
        )
    tasks = schemas.task_of_parameter(key) if task in schemas.TASKS else []
    if tasks and where == "search_space" and key in schemas.training_parameter_names(task):
        return f"{quote(key)} cannot be searched; set it in training_parameters instead"
    if tasks and task not in tasks:
        owners = ", ".join(tasks)
        return (
            f"{quote(key)} does not apply to task {quote(task)} "
            f"(it is a hyperparameter of {owners})"
        )
    return None


@lru_cache(maxsize=1)
def _runtime_aliases() -> dict[str, str]:
    aliases = {}
    for task in schemas.TASKS:
        aliases.update({runtime: v2 for v2, runtime in schemas.runtime_names(task).items()})
    return aliases


@lru_cache(maxsize=1)
def _all_parameter_names() -> frozenset:
    names = set()
    for task in schemas.TASKS:
        names.update(schemas.training_parameter_names(task))
    return frozenset(names)


def _distribution_label(parent: tuple, root: Any) -> str:
    node = _lookup(root, parent)
    if isinstance(node, dict) and isinstance(node.get("type"), str) and "search_space" in parent:
        return f" for a {node['type']} distribution"
    return ""


def _required(error: ValidationError, path: tuple, root: Any) -> list[Issue]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    missing = [k for k in error.validator_value if k not in instance]
    kind = instance.get("type") if "search_space" in path else None
    issues = []
    for key in missing:
        if kind and key in DIST_PARAMS:
            needs = ", ".join(error.validator_value)
            issues.append(Issue(path + (key,), f"missing key; a {kind} distribution needs {needs}"))
        else:
            issues.append(Issue(path + (key,), "missing required key"))
    return issues


def _enum(error: ValidationError, path: tuple, root: Any) -> list[Issue]:
    allowed = list(error.validator_value)
    value = error.instance
    refused = error.schema.get("x-refused", {}) if isinstance(error.schema, dict) else {}
    if isinstance(value, str) and value in refused:  # a known name we do not offer, and why
        return [Issue(path, f"{quote(value)} is not offered here: {refused[value]}")]
    what = "unknown value" if isinstance(value, str) else "value not allowed"
    message = f"{what} {quote(value)}"
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [str(a) for a in allowed], n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
    if path and path[-1] == "primary_metric" and isinstance(root, dict) and root.get("task"):
        message += f" for task {root['task']!r}"
    return [Issue(path, f"{message} (allowed: {', '.join(str(a) for a in allowed)})")]


def _const(error: ValidationError, path: tuple, root: Any) -> list[Issue]:
    return [Issue(path, f"must be {error.validator_value!r}, got {quote(error.instance)}")]


def _type(error: ValidationError, path: tuple, root: Any) -> list[Issue]:
    expected = error.validator_value
    expected = " or ".join(expected) if isinstance(expected, list) else expected
    got = _type_name(error.instance)
    shown = f" {quote(error.instance)}" if not isinstance(error.instance, (dict, list)) else ""
    message = f"expected {expected}, got {got}{shown}"
    if isinstance(error.instance, str) and "(" in error.instance and "search_space" in path:
        message += "; write distributions as {type: uniform, min_value: ..., max_value: ...}"
    return [Issue(path, message)]


def _type_name(value: Any) -> str:
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _limit(error: ValidationError, path: tuple, root: Any) -> list[Issue]:
    text = {
        "minimum": "is below the minimum {limit}",
        "maximum": "is above the maximum {limit}",
        "exclusiveMinimum": "must be greater than {limit}",
        "exclusiveMaximum": "must be less than {limit}",
    }[error.validator].format(limit=error.validator_value)
    return [Issue(path, f"{quote(error.instance)} {text}")]


def _pattern(error: ValidationError, path: tuple, root: Any) -> list[Issue]:
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    hint = PATTERN_HINTS.get(key, f"expected a match of {error.validator_value}")
    return [Issue(path, f"{quote(error.instance)} has the wrong format; {hint}")]


def _size(error: ValidationError, path: tuple, root: Any) -> list[Issue]:
    text = {
        "minItems": f"needs at least {error.validator_value} item(s)",
        "minLength": "must not be empty",
        "minProperties": "must set at least one key",
    }[error.validator]
    return [Issue(path, text)]


def _forbidden_message(path: tuple, root: Any) -> str:
    parent = _lookup(root, path[:-1])
    kind = parent.get("type") if isinstance(parent, dict) else None
    if kind is not None:
        return f"not allowed when type is {quote(kind)}"
    return "not allowed here"


def _lookup(root: Any, path: tuple) -> Any:
    node = root
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


_HANDLERS = {
    "additionalProperties": _additional,
    "required": _required,
    "enum": _enum,
    "const": _const,
    "type": _type,
    "minimum": _limit,
    "maximum": _limit,
    "exclusiveMinimum": _limit,
    "exclusiveMaximum": _limit,
    "pattern": _pattern,
    "minItems": _size,
    "minLength": _size,
    "minProperties": _size,
}
