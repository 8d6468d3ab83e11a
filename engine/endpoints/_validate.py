"""The endpoint and deployment JSON Schemas (schemas/endpoint.schema.json,
schemas/deployment.schema.json): every error in our words, the defaults filled in a
separate pass, and the keys the schemas mark as Azure's alone.

The two files share definitions (names, tags): the deployment schema refers to the endpoint
schema by its `$id`, resolved through one `referencing` registry.
"""

from __future__ import annotations

import copy
import difflib
import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from automl.engine.utils.quoting import quote

KINDS = ("endpoint", "deployment")
MARKERS = ("x-cloud-only", "x-read-only", "x-ignored")
NAME_RULE = (
    "3-32 characters: a letter first, then letters, digits and single '-', not ending with '-' "
    "(Azure's rule for endpoint and deployment names)"
)
PathT = tuple


@cache
def load_schema(kind: str) -> dict:
    """The schema of an endpoint or deployment file (cached: read it, never change it)."""
    from automl.schemas import SCHEMA_DIR

    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))


@cache
def _validator(kind: str) -> Draft202012Validator:
    from referencing import Registry, Resource

    resources = [(load_schema(k)["$id"], Resource.from_contents(load_schema(k))) for k in KINDS]
    return Draft202012Validator(load_schema(kind), registry=Registry().with_resources(resources))


def schema_problems(kind: str, data: Any) -> list[tuple[PathT, str]]:
    """Every schema error of `data` as (path, message), in file order of their paths."""
    problems: list[tuple[PathT, str]] = []
    for error in _validator(kind).iter_errors(data):
        problems += _messages(error)
    return list(dict.fromkeys(problems))


def _messages(error: ValidationError) -> list[tuple[PathT, str]]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = [key for key in error.instance if key not in allowed]
        return [(path + (key,), unknown_key_message(key, allowed)) for key in extras]
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return [(path + (key,), "missing required key") for key in missing]
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _messages(best_match(error.context))
    return [(path, _message(error))]


def unknown_key_message(key: str, allowed: list[str]) -> str:
    """'unknown key; did you mean ...?', else the allowed keys."""
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; allowed keys: {', '.join(allowed)}"


def _message(error: ValidationError) -> str:
    value, rule = error.instance, error.validator_value
    if error.validator == "type":
        kinds = " or ".join(rule) if isinstance(rule, list) else rule
        return f"expected {kinds}, got {quote(value)}"
    if error.validator == "enum":
        close = difflib.get_close_matches(str(value), [str(v) for v in rule], n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown value {quote(value)}{guess} (allowed: {', '.join(map(str, rule))})"
    if error.validator in ("minimum", "maximum"):
        word = "least" if error.validator == "minimum" else "most"
        return f"{quote(value)} is out of range: it must be at {word} {rule}"
    if error.validator == "pattern" or (error.validator == "propertyNames"):
        return f"name {quote(value)} is not allowed: {NAME_RULE}"
    if error.validator == "maxProperties":
        return f"has {len(value)} entries; at most {rule} allowed"
    return error.message if not isinstance(value, (dict, list, str)) else _quoted(error)


def _quoted(error: ValidationError) -> str:
    return error.message.replace(repr(error.instance), quote(error.instance), 1)


def fill_defaults(kind: str, data: dict) -> dict:
    """A copy of valid `data` with every schema default filled in (nested objects too)."""
    schema = load_schema(kind)
    return _filled(schema, copy.deepcopy(data), schema)


def _filled(node: dict, value: Any, root: dict) -> Any:
    node = _resolve(node, root)
    if not isinstance(value, dict) or "properties" not in node:
        return value
    for key, spec in node["properties"].items():
        spec = _resolve(spec, root) | ({"default": spec["default"]} if "default" in spec else {})
        if key not in value and "default" in spec:
            value[key] = copy.deepcopy(spec["default"])
        if key in value:
            value[key] = _filled(spec, value[key], root)
    return value


def _resolve(node: dict, root: dict) -> dict:
    """A local `#/$defs/...` reference resolved (other files' definitions have no defaults)."""
    ref = node.get("$ref", "")
    if not ref.startswith("#/"):
        return node
    for part in ref[2:].split("/"):
        root = root[part]
    return root


def marked_keys(kind: str, data: dict) -> list[tuple[PathT, str, str]]:
    """(path, marker, reason) of each key of `data` a schema marks as cloud-only, read-only
    or ignored (MARKERS): accepted, named in a warning, unused."""
    schema = load_schema(kind)
    found = []
    for path, spec in _given_properties(schema, data, (), schema):
        for marker in MARKERS:
            if marker in spec:
                found.append((path, marker, spec[marker]))
    return found


def _given_properties(node: dict, value: Any, path: PathT, root: dict):
    node = _resolve(node, root)
    if not isinstance(value, dict):
        return
    for key, spec in node.get("properties", {}).items():
        if key in value:
            yield path + (key,), spec
            yield from _given_properties(spec, value[key], path + (key,), root)
