"""Endpoint and deployment files, Azure's CLI v2 YAML read unchanged: load (bounded, with
the line of every key) -> validate against the schema -> cross-field checks -> defaults.

Every problem is reported at once, each as `file:LINE: $.path: message`. Keys that only
mean something on Azure (schemas' `x-cloud-only`) are accepted and named in a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl.engine.endpoints._validate import fill_defaults, marked_keys, schema_problems
from automl.engine.errors import AutomlError, ConfigError
from automl.engine.utils.files import read_text_bounded
from automl.engine.utils.quoting import shorten
from automl.engine.utils.yaml_load import YamlData, YamlInputError, load_yaml

logger = logging.getLogger("automl.endpoints")
PathT = tuple
WARNINGS = {
    "x-cloud-only": "ignored here, an Azure setting: {reason}",
    "x-read-only": "ignored, shown by Azure and never set: {reason}",
    "x-ignored": "ignored: {reason}",
}


class EndpointFileError(ConfigError):
    """An endpoint or deployment file that cannot be used; `issues` lists every problem."""


@dataclass
class SpecFile:
    """A checked endpoint or deployment file: its data with every default filled in."""

    kind: str
    path: Path
    data: dict
    warnings: list[str] = field(default_factory=list)
    given_keys: frozenset[str] = frozenset()  # top-level keys the file (or an override) set


def load_spec_file(
    kind: str, path: str | Path, overrides: dict[str, Any] | None = None
) -> SpecFile:
    """Read, validate and complete an endpoint or deployment file (`kind`). `overrides`
    (`--name`, `--endpoint-name`) replace top-level keys before validation, as Azure's
    `--name` does. Raises EndpointFileError with every problem."""
    path = Path(path)
    source = _read(kind, path)
    data = {**source.data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    problems = schema_problems(kind, data)
    if not problems:
        problems = [problem for check in CHECKS[kind] for problem in check(data)]
    if problems:
        raise _file_error(path, source, problems)
    warnings = [
        f"{path}:{source.line_of(key)}: {_dotted(key)}: {WARNINGS[marker].format(reason=reason)}"
        for key, marker, reason in marked_keys(kind, data)
    ]
    return SpecFile(kind, path, fill_defaults(kind, data), warnings, frozenset(data))


def _read(kind: str, path: Path) -> YamlData:
    if path.is_dir():
        raise EndpointFileError(f"{path}: is a folder; --file takes a {kind} YAML file")
    try:
        text = read_text_bounded(path, "endpoint_file_bytes", f"{kind} file")
        source = load_yaml(text, str(path))
    except YamlInputError as exc:
        raise EndpointFileError(exc.message, issues=exc.problems, hint=exc.hint) from None
    except AutomlError as exc:  # missing, a FIFO or device, over the size bound, not UTF-8
        raise EndpointFileError(exc.message, hint=exc.hint) from None
    if not isinstance(source.data, dict):
        raise EndpointFileError(
            f"{path}:1: the {kind} file must be a mapping of keys (name:, ...), "
            f"got {type(source.data).__name__}",
            hint=f"see schemas/{kind}.schema.json",
        )
    return source


def _file_error(path: Path, source: YamlData, problems: list[tuple[PathT, str]]) -> ConfigError:
    problems = sorted(problems, key=lambda problem: source.line_of(problem[0]))  # file order
    lines = [
        f"{path}:{source.line_of(key)}: {_dotted(key)}: {message}" for key, message in problems
    ]
    message = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines)
    return EndpointFileError(message, issues=lines)


def _dotted(path: PathT) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{shorten(str(part))}"
    return text


# ---- cross-field rules: one small function each ------------------------------------------


def check_liveness_success_threshold(data: dict) -> list[tuple[PathT, str]]:
    """Azure fixes liveness_probe.success_threshold at 1: one answer shows the process is up."""
    value = (data.get("liveness_probe") or {}).get("success_threshold", 1)
    if value != 1:
        path = ("liveness_probe", "success_threshold")
        return [(path, f"must be 1 for a liveness probe (Azure's rule), got {value}")]
    return []


def check_traffic_sum(data: dict) -> list[tuple[PathT, str]]:
    """The weights of `traffic` sum to 0 (no traffic) or 100."""
    total = sum((data.get("traffic") or {}).values())
    if total not in (0, 100):
        return [(("traffic",), f"the weights sum to {total}; they must sum to 100 (or 0)")]
    return []


def check_mirror_not_live(data: dict) -> list[tuple[PathT, str]]:
    """A deployment gets live or mirrored traffic, not both (Azure's rule)."""
    traffic = data.get("traffic") or {}
    return [
        (
            ("mirror_traffic", name),
            f"{name!r} has live traffic ({traffic[name]} %); a "
            "deployment gets live or mirrored traffic, not both",
        )
        for name, percent in (data.get("mirror_traffic") or {}).items()
        if percent > 0 and traffic.get(name, 0) > 0
    ]


CHECKS: dict[str, list[Callable[[dict], list[tuple[PathT, str]]]]] = {
    "endpoint": [check_traffic_sum, check_mirror_not_live],
    "deployment": [check_liveness_success_threshold],
}
