"""YAML from untrusted files (job files, MLTables), read in one bounded pass.

ruamel.yaml's parser yields events without recursion; this module builds plain Python data
(dict, list, str, int, float, bool, None, dates) from them with an explicit stack, so:

- nesting deeper than `yaml_depth` levels is refused at the line where it happens (Python's
  recursion limit is never reached, here or in later passes over the data);
- aliases (`*name`, `<<: *name`) are expanded into copies, and the nodes they add are counted:
  over `yaml_alias_nodes` the file is refused at the alias that crossed the bound, so a
  "billion laughs" file costs a few kilobytes of work, not gigabytes;
- comments are skipped by the scanner, not collected (ruamel's round-trip scanner joins each
  comment line to the previous ones, which is quadratic in a run of comment lines);
- every key and list item gets the line where it starts, for `file:LINE` in messages;
- every duplicate key is reported (with the line of its first occurrence), not only the first;
- only the standard scalar tags are constructed (`!!str`, `!!int`, ...); any other tag is an
  error, never code.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode

from automl.engine.errors import AutomlError
from automl.engine.utils.quoting import quote

PathT = tuple  # keys of mappings and indexes of lists
_COLLECTION_TAGS = {
    "seq": ("tag:yaml.org,2002:seq",),
    "map": ("tag:yaml.org,2002:map",),
}


class YamlInputError(AutomlError):
    """A YAML text that cannot be used; `problems` holds each one as `label:LINE: ...`."""

    def __init__(self, problems: list[str], *, hint: str | None = None) -> None:
        if len(problems) == 1:
            message = problems[0]
        else:
            message = f"{len(problems)} problems:\n  " + "\n  ".join(problems)
        super().__init__(message, hint=hint)
        self.problems = list(problems)


@dataclass
class YamlData:
    """Plain data of one YAML document, and the 1-based line of each key and list item."""

    data: Any
    lines: dict[PathT, int] = field(default_factory=dict)

    def line_of(self, path: PathT) -> int:
        """Line of the deepest part of `path` the file has (1 if none)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def load_yaml(text: str, label: str) -> YamlData:
    """Parse one YAML document of `text` (named `label` in messages) within the bounds.

    Returns `YamlData(None)` for a text with no document (empty, or only comments).
    Raises `YamlInputError` (syntax, bounds, duplicate keys, unsupported tags).
    """
    from automl.schemas import limit

    yaml = YAML(typ="safe", pure=True)
    builder = _Builder(label, yaml, limit("yaml_depth"), limit("yaml_alias_nodes"))
    try:
        for event in yaml.parse(text):
            builder.feed(event)
    except MarkedYAMLError as exc:
        raise YamlInputError([syntax_message(exc, label)]) from None
    except YAMLError as exc:
        raise YamlInputError([f"{label}: invalid YAML: {exc}"]) from None
    if builder.duplicates:
        raise YamlInputError(builder.duplicates)
    return YamlData(builder.root, builder.lines)


def syntax_message(exc: MarkedYAMLError, label: str) -> str:
    """`label:LINE:COL: invalid YAML: problem (context)` from a ruamel error."""
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return f"{label}: invalid YAML: {exc.problem or exc}"
    problem = exc.problem or "invalid YAML"
    context = f" ({exc.context})" if exc.context else ""
    return f"{label}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}{context}"


@dataclass
class _Frame:
    """An open mapping or sequence: its value so far and where it is."""

    value: dict | list
    path: PathT
    line: int
    anchor: str | None
    n_nodes: int = 1
    key: Any = None  # the key waiting for its value (mappings)
    key_line: int = 0
    has_key: bool = False
    first_lines: dict = field(default_factory=dict)  # key -> line first given
    merges: list = field(default_factory=list)  # (line, mapping) of each `<<` value


class _Builder:
    """Turns parse events into plain data, within the depth and alias bounds."""

    def __init__(self, label: str, yaml: YAML, max_depth: int, max_alias_nodes: int) -> None:
        self.label = label
        self.yaml = yaml
        self.max_depth = max_depth
        self.max_alias_nodes = max_alias_nodes
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.alias_nodes = 0
        self.n_documents = 0
        self.root: Any = None
        self.lines: dict[PathT, int] = {}
        self.duplicates: list[str] = []

    def feed(self, event: Any) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, DocumentStartEvent):
            self._start_document(line)
        elif isinstance(event, ScalarEvent):
            self._add(self._scalar(event, line), 1, line, event.anchor)
        elif isinstance(event, AliasEvent):
            self._alias(event.anchor, line)
        elif isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            self._open(event, line)
        elif isinstance(event, CollectionEndEvent):
            self._close()

    def _start_document(self, line: int) -> None:
        self.n_documents += 1
        if self.n_documents > 1:
            self._fail(line, "a second YAML document ('---'); a file holds one document")

    def _fail(self, line: int, message: str, hint: str | None = None) -> None:
        raise YamlInputError([f"{self.label}:{line}: {message}"], hint=hint)

    def _scalar(self, event: ScalarEvent, line: int) -> Any:
        tag = _tag_of(event)
        if tag is None or str(tag) == "!":
            tag = self.yaml.resolver.resolve(ScalarNode, event.value, event.implicit)
        if str(tag) == "tag:yaml.org,2002:merge" and self._expects_key():
            return _MergeKey()
        if str(tag) == "tag:yaml.org,2002:merge":
            return event.value
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        try:
            return self.yaml.constructor.construct_non_recursive_object(node)
        except (YAMLError, ValueError, TypeError) as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self._fail(line, f"invalid YAML value: {problem}; only plain values are read")

    def _alias(self, name: str, line: int) -> None:
        if name in self.open_anchors:
            self._fail(line, f"alias *{name} refers to a node that contains it")
        if name not in self.anchors:
            self._fail(line, f"alias *{name} has no anchor &{name} before it")
        value, n_nodes = self.anchors[name]
        self.alias_nodes += n_nodes
        if self.alias_nodes > self.max_alias_nodes:
            from automl.schemas import limit_hint

            self._fail(
                line,
                f"YAML aliases expand to more than {self.max_alias_nodes:,} nodes "
                f"(alias *{name} adds {n_nodes:,}); write the values out, use fewer aliases, "
                f"or {limit_hint('yaml_alias_nodes')}",
            )
        self._add(copy.deepcopy(value), n_nodes, line, None)

    def _open(self, event: Any, line: int) -> None:
        kind = "map" if isinstance(event, MappingStartEvent) else "seq"
        tag = _tag_of(event)
        if tag is not None and str(tag) != "!" and str(tag) not in _COLLECTION_TAGS[kind]:
            self._fail(line, f"tag {tag} is not supported; remove it")
        if len(self.stack) >= self.max_depth:
            from automl.schemas import limit_hint

            self._fail(
                line,
                f"nested deeper than {self.max_depth} levels; flatten the file, "
                f"or {limit_hint('yaml_depth')}",
            )
        path = self._child_path()
        value: dict | list = {} if kind == "map" else []
        self.stack.append(_Frame(value, path, line, event.anchor))
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)

    def _close(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            self._merge(frame)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
        self._add(frame.value, frame.n_nodes, frame.line, frame.anchor)

    def _expects_key(self) -> bool:
        return (
            bool(self.stack)
            and isinstance(self.stack[-1].value, dict)
            and not (self.stack[-1].has_key)
        )

    def _child_path(self) -> PathT:
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return parent.path + (len(parent.value),)
        return parent.path + (parent.key,) if parent.has_key else parent.path

    def _add(self, value: Any, n_nodes: int, line: int, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, n_nodes)
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        parent.n_nodes += n_nodes
        if isinstance(parent.value, list):
            self.lines[parent.path + (len(parent.value),)] = line
            parent.value.append(value)
        elif not parent.has_key:
            self._set_key(parent, value, line)
        else:
            self._set_value(parent, value)

    def _set_key(self, frame: _Frame, key: Any, line: int) -> None:
        if isinstance(key, (dict, list)):
            self._fail(line, "a mapping key must be a plain value, not a mapping or a list")
        frame.key = key if isinstance(key, _MergeKey) else _key_text(key)
        frame.key_line, frame.has_key = line, True

    def _set_value(self, frame: _Frame, value: Any) -> None:
        key, line = frame.key, frame.key_line
        frame.has_key, frame.key = False, None
        if isinstance(key, _MergeKey):
            frame.merges.append((line, value))
            return
        if key in frame.first_lines:
            self.duplicates.append(
                f"{self.label}:{line}: duplicate key {quote(key)} "
                f"(first given on line {frame.first_lines[key]}); keep one of them"
            )
            return
        frame.first_lines[key] = line
        frame.value[key] = value
        self.lines[frame.path + (key,)] = line

    def _merge(self, frame: _Frame) -> None:
        """`<<: mapping` or `<<: [mappings]`: keys the mapping lacks, earlier sources first."""
        for line, source in frame.merges:
            sources = source if isinstance(source, list) else [source]
            for item in sources:
                if not isinstance(item, dict):
                    self._fail(line, "'<<' (merge) takes a mapping or a list of mappings")
                for key, value in item.items():
                    if key not in frame.value:
                        frame.value[key] = value
                        self.lines[frame.path + (key,)] = line


class _MergeKey:
    """The `<<` key of a mapping (YAML merge), kept apart from a quoted '<<' string."""


def _tag_of(event: Any) -> Any:
    tag = getattr(event, "ctag", None)
    return tag if tag is not None else getattr(event, "tag", None)


def _key_text(key: Any) -> str:
    """Keys are text, as JSON has them: `1:` and `true:` become '1' and 'True'."""
    return key if isinstance(key, str) else str(key)
