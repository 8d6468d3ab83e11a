"""Stage 2: `--set key.path=value` overrides, as `az ml job create --set` applies them.

The value is parsed as YAML (`4`, `true`, `[1, 2]`, `{type: choice, values: [a]}`); a list
index is a number in the path, between dots or in brackets (`search_space.0.learning_rate`,
`search_space[0].learning_rate`). Missing
mappings on the way are created, so an override of an unknown key reaches the schema check
and is reported there, pointing at the `--set` instead of a line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from automl.engine.config.issues import Issue, PathT, format_path
from automl.engine.utils.quoting import quote, shorten
from automl.engine.utils.yaml_load import YamlInputError, load_yaml

# A key path: names (no '.', '[' or ']') joined by dots, each followed by any [N] indexes.
_NAME = r"[^.\[\]]+"
_KEY_PATH = re.compile(rf"{_NAME}(?:\[\d+\])*(?:\.{_NAME}(?:\[\d+\])*)*")
_KEY_PART = re.compile(rf"({_NAME})|\[(\d+)\]")


def parse_override(text: str) -> tuple[PathT, Any]:
    """'limits.max_trials=4' -> (('limits', 'max_trials'), 4); ValueError if malformed.

    A list index is a number between dots or in brackets: `search_space.0.learning_rate`,
    `search_space[0].learning_rate` (and the `$.` of paths in messages may be kept).
    """
    key, sep, raw_value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError("expected key.path=value, for example limits.max_trials=4")
    return parse_key_path(key), _parse_value(raw_value)


def parse_key_path(key: str) -> PathT:
    """'search_space[0].learning_rate' or 'search_space.0.learning_rate' ->
    ('search_space', 0, 'learning_rate')."""
    key = key.removeprefix("$.")
    if any(not part for part in key.split(".")):
        raise ValueError(
            f"empty part in key path {shorten(repr(key))}; separate keys with single dots"
        )
    if not _KEY_PATH.fullmatch(key):
        raise ValueError(
            f"key path {shorten(repr(key))} is malformed; separate keys with single dots "
            "and write list indexes as .0 or [0], for example search_space[0].learning_rate"
        )
    parts = _KEY_PART.findall(key)
    return tuple(int(index) if index else _part(name) for name, index in parts)


def _part(name: str) -> str | int:
    return int(name) if name.isdigit() else name


def _parse_value(raw: str) -> Any:
    if raw.strip() == "":
        return ""
    try:
        return load_yaml(raw, "value").data  # bounded as a file is: depth, aliases, no tags
    except YamlInputError as exc:
        problem = exc.problems[0].split(": ", 1)[-1]
        raise ValueError(f"the value is not valid YAML ({problem}); quote it") from None


def apply_overrides(data: dict, overrides: Sequence[str]) -> tuple[dict[PathT, str], list[Issue]]:
    """Apply `overrides` to `data` in place.

    Returns the path of each applied override (for locating later issues) and the issues of
    overrides that could not be applied.
    """
    applied: dict[PathT, str] = {}
    issues: list[Issue] = []
    for text in overrides:
        try:
            path, value = parse_override(text)
            _set_path(data, path, value)
        except ValueError as exc:
            issues.append(Issue((), str(exc), location=f"--set {text}"))
            continue
        applied[path] = text
    return applied, issues


def _set_path(data: dict, path: PathT, value: Any) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        node = _child(node, part, path[: depth + 1], next_part=path[depth + 1])
    _assign(node, path[-1], value, path)


def _child(node: Any, part: Any, where: PathT, next_part: Any) -> Any:
    if isinstance(node, dict):
        key = str(part)
        if not isinstance(node.get(key), (dict, list)):
            if key in node and node[key] is not None:
                raise ValueError(
                    f"{format_path(where)} is {quote(node[key])}, not a mapping; "
                    f"set {format_path(where)} itself instead"
                )
            node[key] = {}
        return node[key]
    if isinstance(node, list):
        _check_index(node, part, where)
        return node[part]
    raise ValueError(f"{format_path(where[:-1])} is not a mapping or a list")


def _assign(node: Any, part: Any, value: Any, path: PathT) -> None:
    if isinstance(node, dict):
        node[str(part)] = value
    elif isinstance(node, list):
        _check_index(node, part, path)
        node[part] = value
    else:
        raise ValueError(f"{format_path(path[:-1])} is not a mapping or a list")


def _check_index(node: list, part: Any, where: PathT) -> None:
    if not isinstance(part, int):
        raise ValueError(f"{format_path(where[:-1])} is a list; use an index such as 0")
    if part >= len(node):
        raise ValueError(
            f"index {part} is out of range: {format_path(where[:-1])} has {len(node)} item(s)"
        )
