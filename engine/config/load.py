"""Stage 1: read the job file with ruamel.yaml, keeping the line of every key.

Malformed YAML, an empty file, a file that is not a mapping and duplicate keys are reported
here with their line (and column), before any schema is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from automl.engine.errors import ConfigError

REQUIRED_HINT = "a job needs at least type: automl, task, target_column_name and training_data"


@dataclass
class Document:
    """A loaded job file: its text, the ruamel tree (with lines) and its label for messages."""

    path: Path
    label: str
    text: str
    tree: Any  # ruamel CommentedMap


def load_document(path: str | Path) -> Document:
    """Read and parse `path`; raise `ConfigError` with line and column for unusable files."""
    path = Path(path)
    label = str(path)
    text = _read_text(path, label)
    if not text.strip():
        _fail(f"{label}: the file is empty; {REQUIRED_HINT}")
    tree = _parse(text, label)
    if tree is None:
        _fail(f"{label}: the file has no content (only comments); {REQUIRED_HINT}")
    if not isinstance(tree, dict):
        kind = "a list" if isinstance(tree, list) else f"a {type(tree).__name__} value"
        _fail(f"{label}:1: the job file must be a mapping of keys (type:, task:, ...), got {kind}")
    return Document(path=path, label=label, text=text, tree=tree)


def _read_text(path: Path, label: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(f"{label}: job file not found (check the --file path)")
    except IsADirectoryError:
        _fail(f"{label}: is a folder; --file takes a job YAML file")
    except UnicodeDecodeError as exc:
        _fail(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8")
    except OSError as exc:
        _fail(f"{label}: cannot read the file: {exc.strerror}")
    raise AssertionError("unreachable")  # every branch above raises


def _parse(text: str, label: str) -> Any:
    try:
        return YAML(typ="rt").load(text)
    except DuplicateKeyError as exc:
        # ruamel stops at the first duplicate and names only its line; find them all, each
        # with the line of its first occurrence (a second, slower pass, only on this error).
        _check_duplicate_keys(text, label)
        _fail(_yaml_message(exc, label))
    except YAMLError as exc:
        _fail(_yaml_message(exc, label))


def _check_duplicate_keys(text: str, label: str) -> None:
    """Compose the node tree (no construction) and report every key given twice."""
    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError as exc:
        _fail(_yaml_message(exc, label))
    problems = []
    for first, second, key in _duplicates(root):
        problems.append(
            f"{label}:{second}: duplicate key {key!r} (first given on line {first}); "
            "keep one of them"
        )
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        message = f"{label} is not a valid job ({len(problems)} {noun}):\n  "
        raise ConfigError(message + "\n  ".join(problems), issues=problems)


def _duplicates(node: Node | None):
    """Yield (first line, duplicate line, key) for every repeated key under `node`."""
    if isinstance(node, MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if not isinstance(key_node.value, list) else None
            line = key_node.start_mark.line + 1
            if key is not None and key != "<<" and key in seen:
                yield seen[key], line, key
            elif key is not None:
                seen[key] = line
            yield from _duplicates(value_node)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _duplicates(item)


def _yaml_message(exc: YAMLError, label: str) -> str:
    if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        return f"{label}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}{context}"
    return f"{label}: invalid YAML: {exc}"


def _fail(message: str) -> None:
    raise ConfigError(message, issues=[message])


def to_plain(value: Any) -> Any:
    """Convert ruamel's round-trip types (CommentedMap, ScalarFloat, ...) to plain Python."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
