"""MLTable files as Azure defines them (docs/azure-compatibility.md §6.2), for JSON-lines image
datasets.

Supported: `paths` items `file`, `folder` and `pattern` (globs `*`, `?`, `[abc]`, `**`),
local or `file://` or fsspec URLs; transformations `read_json_lines` (`encoding`,
`invalid_lines: error|drop`, `include_path_column`, `path_column`),
`convert_column_types` (`stream_info` on the image column), `take`, `skip` and
`take_random_sample`. Other transformations are reported as warnings and not applied.
"""

from __future__ import annotations

import glob
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl.engine.data.lines import bounded_lines, count_lines
from automl.engine.data.urls import display_path, is_remote, resolve_location
from automl.engine.errors import DataError
from automl.engine.utils.quoting import quote

MLTABLE_NAME = "MLTable"
JSONL_SUFFIXES = (".jsonl", ".json", ".jsonlines")
ENCODINGS = {
    "utf8": "utf-8",
    "utf8bom": "utf-8-sig",
    "iso88591": "iso-8859-1",
    "latin1": "latin-1",
    "ascii": "ascii",
    "utf16": "utf-16",
    "utf32": "utf-32",
    "windows1252": "cp1252",
}


@dataclass
class JsonLine:
    """One non-blank line of a JSONL file: its text, where it came from, its base folder."""

    text: str
    source: str
    base_dir: str
    file: str
    problem: str | None = None  # why the line cannot be used before it is parsed (too long)


@dataclass
class TableSpec:
    """What an MLTable (or a bare JSONL file) asks for."""

    files: list[str]
    base_dir: str
    encoding: str = "utf-8"
    invalid_lines: str = "error"
    include_path_column: bool = False
    path_column: str = "Path"
    take: int | None = None
    skip: int = 0
    sample: tuple[float, int | None] | None = None
    warnings: list[str] = field(default_factory=list)


def locate_table(path: str | os.PathLike) -> Path:
    """The MLTable or JSONL file behind a `training_data.path` (folder, MLTable or .jsonl)."""
    path = Path(path)
    if path.is_dir():
        if (path / MLTABLE_NAME).is_file():
            return path / MLTABLE_NAME
        raise DataError(
            f"{display_path(path)}: folder has no '{MLTABLE_NAME}' file",
            hint="point at a folder holding an MLTable, an MLTable file, or a .jsonl file; "
            "`automl data convert` writes an MLTable for COCO/VOC/YOLO/folder/CSV data",
        )
    if not path.exists():
        raise DataError(f"{display_path(path)}: no such file or folder")
    if not path.is_file():  # a device (/dev/zero), a FIFO or a socket: never read it
        raise DataError(
            f"{display_path(path)}: not a regular file (a device, FIFO or socket)",
            hint="point the data path at an MLTable folder, an MLTable file or a .jsonl file",
        )
    return path


def read_table_spec(path: str | os.PathLike) -> TableSpec:
    """Read an MLTable file, or wrap a bare JSONL file in the default spec."""
    path = locate_table(path)
    if path.name != MLTABLE_NAME and path.suffix.lower() in JSONL_SUFFIXES:
        return TableSpec(files=[str(path.absolute())], base_dir=str(path.absolute().parent))
    document = _load_yaml(path)
    base_dir = str(path.absolute().parent)
    spec = TableSpec(files=_expand_paths(path, document.get("paths"), base_dir), base_dir=base_dir)
    for step in _transformations(path, document):
        _apply_transformation(path, spec, step)
    return spec


def _load_yaml(path: Path) -> dict:
    """The MLTable's YAML, read as a job file is: a regular file within `mltable_file_bytes`,
    bounded depth and alias expansion, no tags."""
    from automl.engine.errors import AutomlError
    from automl.engine.utils.files import read_text_bounded
    from automl.engine.utils.yaml_load import YamlInputError, load_yaml

    where = display_path(path)
    try:
        document = load_yaml(read_text_bounded(path, "mltable_file_bytes", "MLTable"), where).data
    except YamlInputError as exc:
        raise DataError(exc.message, problems=exc.problems, hint=exc.hint) from None
    except AutomlError as exc:  # a FIFO or device, over the size limit, not UTF-8
        raise DataError(exc.message, hint=exc.hint) from None
    if not isinstance(document, dict):
        raise DataError(f"{display_path(path)}: an MLTable must be a YAML mapping with 'paths'")
    return document


def _expand_paths(path: Path, items: Any, base_dir: str) -> list[str]:
    where = display_path(path)
    if not isinstance(items, list) or not items:
        raise DataError(f"{where}: 'paths' must be a non-empty list of file/folder/pattern items")
    files: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or len(set(item) & {"file", "folder", "pattern"}) != 1:
            raise DataError(
                f"{where}: paths[{i}] {quote(item)} must have exactly one of 'file', 'folder', "
                "'pattern'"
            )
        kind, value = next((k, v) for k, v in item.items() if k in ("file", "folder", "pattern"))
        found = _expand_one(kind, str(value), base_dir)
        if not found:
            raise DataError(f"{where}: paths[{i}] {kind}: {quote(value)} matches no file")
        files.extend(found)
    return files


def _expand_one(kind: str, value: str, base_dir: str) -> list[str]:
    location = resolve_location(value, base_dir)
    if is_remote(location):
        return _expand_remote(kind, location)
    if kind == "file":
        return [location] if os.path.isfile(location) else []
    if kind == "folder":
        pattern = os.path.join(glob.escape(location), "**", "*")
        return [p for p in sorted(glob.glob(pattern, recursive=True)) if _is_jsonl(p)]
    return [p for p in sorted(glob.glob(location, recursive=True)) if os.path.isfile(p)]


def _expand_remote(kind: str, url: str) -> list[str]:
    import fsspec

    from automl.engine.data.remote import HTTP_SCHEMES, redact_url, scheme_of

    if kind == "file":
        return [url]
    if scheme_of(url) in HTTP_SCHEMES:
        raise DataError(
            f"{kind}: {redact_url(url)}: an HTTP server cannot list a {kind}",
            hint="name each JSONL file with 'file:' (object storage URLs such as s3://, "
            "gs:// or abfs:// can use folder: and pattern:)",
        )
    pattern = url.rstrip("/") + "/**" if kind == "folder" else url
    fs, _, matches = fsspec.get_fs_token_paths(pattern)
    protocol = url.split("://", 1)[0]
    found = [f"{protocol}://{m}" for m in sorted(matches) if kind == "pattern" or _is_jsonl(m)]
    return found


def _is_jsonl(path: str) -> bool:
    return path.lower().endswith(JSONL_SUFFIXES)


def _transformations(path: Path, document: dict) -> list:
    steps = document.get("transformations") or []
    if not isinstance(steps, list):
        raise DataError(f"{display_path(path)}: 'transformations' must be a list")
    return steps


def _apply_transformation(path: Path, spec: TableSpec, step: Any) -> None:
    where = display_path(path)
    if isinstance(step, str):
        step = {step: {}}
    if not isinstance(step, dict) or len(step) != 1:
        raise DataError(f"{where}: transformation {quote(step)} must be a one-key mapping")
    ((name, args),) = step.items()
    handler = _TRANSFORMATIONS.get(name)
    if handler is None:
        spec.warnings.append(f"{where}: transformation {quote(name)} is not supported; ignored")
        return
    handler(where, spec, args if args is not None else {})


def _read_json_lines(where: str, spec: TableSpec, args: Any) -> None:
    if not isinstance(args, dict):
        raise DataError(f"{where}: read_json_lines takes a mapping, got {quote(args)}")
    encoding = str(args.get("encoding", "utf8")).lower().replace("-", "").replace("_", "")
    if encoding not in ENCODINGS:
        raise DataError(
            f"{where}: read_json_lines.encoding {quote(args.get('encoding'))} is not supported; "
            f"use one of {', '.join(ENCODINGS)}"
        )
    invalid = str(args.get("invalid_lines", "error"))
    if invalid not in ("error", "drop"):
        raise DataError(
            f"{where}: read_json_lines.invalid_lines {quote(invalid)} must be 'error' or 'drop'"
        )
    spec.encoding, spec.invalid_lines = ENCODINGS[encoding], invalid
    spec.include_path_column = bool(args.get("include_path_column", False))
    spec.path_column = str(args.get("path_column", "Path"))


def _convert_column_types(where: str, spec: TableSpec, args: Any) -> None:
    # Only image columns matter here (stream_info); other types are for tabular data.
    if not isinstance(args, list):
        raise DataError(f"{where}: convert_column_types takes a list, got {quote(args)}")


def _take(where: str, spec: TableSpec, args: Any) -> None:
    if not isinstance(args, int) or isinstance(args, bool) or args < 0:
        raise DataError(f"{where}: take {quote(args)} must be a non-negative integer")
    spec.take = args


def _skip(where: str, spec: TableSpec, args: Any) -> None:
    if not isinstance(args, int) or isinstance(args, bool) or args < 0:
        raise DataError(f"{where}: skip {quote(args)} must be a non-negative integer")
    spec.skip = args


def _take_random_sample(where: str, spec: TableSpec, args: Any) -> None:
    probability = args.get("probability") if isinstance(args, dict) else None
    if not isinstance(probability, (int, float)) or not 0 < probability <= 1:
        raise DataError(f"{where}: take_random_sample.probability must be in (0, 1]")
    spec.sample = (float(probability), args.get("seed"))


_TRANSFORMATIONS = {
    "read_json_lines": _read_json_lines,
    "convert_column_types": _convert_column_types,
    "take": _take,
    "skip": _skip,
    "take_random_sample": _take_random_sample,
}


def iter_lines(spec: TableSpec) -> Iterator[JsonLine]:
    """The non-blank lines of every file of the table, after skip/take/sample.

    Read within bounds (see `engine.data.lines`): a line over the length bound comes with
    its `problem`; more lines than `manifest_lines` in all is a LimitError.
    """
    lines = (line for file in spec.files for line in _file_lines(file, spec))
    rng = random.Random(spec.sample[1]) if spec.sample else None
    kept = 0
    for i, line in enumerate(count_lines(lines, spec.files[0] if spec.files else "")):
        if i < spec.skip or (rng is not None and rng.random() >= spec.sample[0]):
            continue
        if spec.take is not None and kept >= spec.take:
            return
        kept += 1
        yield line


def _file_lines(file: str, spec: TableSpec) -> Iterator[JsonLine]:
    shown = display_path(file)
    try:
        for number, text, problem in bounded_lines(file, spec.encoding):
            yield JsonLine(text, f"{shown}:{number}", spec.base_dir, file, problem)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{shown}: cannot read as {spec.encoding}: {exc}") from None


def decode_line(line: JsonLine) -> tuple[dict | None, str | None]:
    """Parse one line as a JSON object: (row, None) or (None, problem)."""
    if line.problem is not None:
        return None, line.problem
    try:
        row = json.loads(line.text)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON line: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "JSON nested too deeply (a label is at most a few levels deep)"
    if not isinstance(row, dict):
        return None, f"expected a JSON object per line, got {type(row).__name__}"
    return row, None
