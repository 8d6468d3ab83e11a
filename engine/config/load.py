"""Stage 1: read the job file, bounded, and parse it with the line of every key.

The file must be a regular file within `job_file_bytes`; its YAML is read by
`automl.engine.utils.yaml_load` (bounded depth and alias expansion, every duplicate key,
no tags). An empty file, a file that is not a mapping and malformed YAML are reported here
with their line (and column), before any schema is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from automl.engine.errors import AutomlError, ConfigError
from automl.engine.utils.files import read_text_bounded
from automl.engine.utils.yaml_load import YamlData, YamlInputError, load_yaml

REQUIRED_HINT = "a job needs at least type: automl, task, target_column_name and training_data"


@dataclass
class Document:
    """A loaded job file: its text, its plain data with lines, and its label for messages."""

    path: Path
    label: str
    text: str
    source: YamlData


def load_document(path: str | Path) -> Document:
    """Read and parse `path`; raise `ConfigError` with line and column for unusable files."""
    path = Path(path)
    label = str(path)
    text = _read_text(path, label)
    if not text.strip():
        _fail(f"{label}: the file is empty; {REQUIRED_HINT}")
    source = _parse(text, label)
    if source.data is None:
        _fail(f"{label}: the file has no content (only comments); {REQUIRED_HINT}")
    if not isinstance(source.data, dict):
        kind = "a list" if isinstance(source.data, list) else "a single value"
        _fail(f"{label}:1: the job file must be a mapping of keys (type:, task:, ...), got {kind}")
    return Document(path=path, label=label, text=text, source=source)


def _read_text(path: Path, label: str) -> str:
    if not path.exists():
        _fail(f"{label}: job file not found (check the --file path)")
    if path.is_dir():
        _fail(f"{label}: is a folder; --file takes a job YAML file")
    try:
        return read_text_bounded(path, "job_file_bytes", "job file")
    except AutomlError as exc:  # a FIFO, a device, over the size limit, not UTF-8
        _fail(f"{exc.message}; {exc.hint}" if exc.hint else exc.message)
    raise AssertionError("unreachable")  # _fail raises


def _parse(text: str, label: str) -> YamlData:
    try:
        return load_yaml(text, label)
    except YamlInputError as exc:
        if len(exc.problems) == 1:
            raise ConfigError(exc.problems[0], issues=exc.problems, hint=exc.hint) from None
        message = f"{label} is not a valid job ({len(exc.problems)} problems):\n  "
        raise ConfigError(
            message + "\n  ".join(exc.problems), issues=exc.problems, hint=exc.hint
        ) from None


def _fail(message: str) -> None:
    raise ConfigError(message, issues=[message])
