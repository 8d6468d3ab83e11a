"""Converters from labelling-tool formats to Azure JSONL + MLTable.

One private module per format, each registered in `CONVERTERS` under its `--from` name:
`coco`, `voc`, `yolo`, `folder`, `csv`. `convert_dataset` runs one and writes the result.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from automl.engine.data.converters import _coco, _csv, _folder, _voc, _yolo  # noqa: F401
from automl.engine.data.converters._base import (
    CONVERTERS,
    ConversionResult,
    Converter,
    ConvertOptions,
)
from automl.engine.data.doctor import HASH_KEY, probe_images
from automl.engine.data.labels import label_names
from automl.engine.data.reader import public_record
from automl.engine.data.split import split_records
from automl.engine.data.tasks import OBJECT_TASKS
from automl.engine.utils.files import write_text_atomic

ANNOTATIONS_NAME = "annotations.jsonl"
MLTABLE_TEXT = """\
$schema: https://azuremlschemas.azureedge.net/latest/MLTable.schema.json
type: mltable
paths:
  - file: ./{file}
transformations:
  - read_json_lines:
      encoding: utf8
      invalid_lines: error
      include_path_column: false
  - convert_column_types:
      - columns: image_url
        column_type: stream_info
"""

__all__ = [
    "CONVERTERS",
    "ConversionResult",
    "ConvertOptions",
    "ConvertSummary",
    "Converter",
    "convert_dataset",
    "read_source",
    "write_mltable_folder",
]


@dataclass
class ConvertSummary:
    """What `convert_dataset` wrote."""

    task: str
    n_images: int
    n_objects: int
    classes: dict[str, int]
    outputs: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def read_source(
    fmt: str,
    source: str | os.PathLike,
    task: str | None = None,
    options: ConvertOptions | None = None,
) -> ConversionResult:
    """Run the `fmt` converter on `source` (records keep absolute image paths)."""
    converter = CONVERTERS.get(fmt)()
    source = Path(source)
    return converter.convert(
        source, converter.resolve_task(task, source), options or ConvertOptions()
    )


def convert_dataset(
    fmt: str,
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    task: str | None = None,
    options: ConvertOptions | None = None,
    validation_size: float | None = None,
    seed: int = 0,
    base_url: str | None = None,
) -> ConvertSummary:
    """Convert `source` and write `annotations.jsonl` + `MLTable` into `output_dir`.

    With `validation_size`, writes `train/` and `valid/` folders instead (seeded,
    stratified split); a source with its own split (VOC's ImageSets lists) is written
    as `train/` and `valid/` as it is split. `image_url`s are relative to the folder
    they are written to, or `base_url` + the path below the images' common folder.
    """
    result = read_source(fmt, source, task, options)
    output_dir = Path(output_dir)
    parts = {"": result.records}
    if result.splits is not None:
        parts = result.splits
        if validation_size:
            result.warnings.append(
                f"--validation-size {validation_size} ignored: the source has its own split"
            )
    elif validation_size:
        train, valid = split_records(_hashed(result.records), result.task, validation_size, seed)
        train, valid = [public_record(r) for r in train], [public_record(r) for r in valid]
        parts = {"train": train, "valid": valid}
    outputs = [
        str(write_mltable_folder(records, output_dir / name, base_url=base_url))
        for name, records in parts.items()
    ]
    return _summary(result, outputs)


def write_mltable_folder(
    records: list[dict], folder: str | os.PathLike, *, base_url: str | None = None
) -> Path:
    """Write records as `folder/annotations.jsonl` + `folder/MLTable`; returns the folder."""
    folder = Path(folder).absolute()
    root = _common_root(records) if base_url else None
    lines = []
    for record in records:
        image = record["image_url"]
        if base_url:
            url = base_url.rstrip("/") + "/" + Path(os.path.relpath(image, root)).as_posix()
        else:
            url = Path(os.path.relpath(image, folder)).as_posix()
        lines.append(json.dumps({**record, "image_url": url}, separators=(",", ":")))
    write_text_atomic(folder / ANNOTATIONS_NAME, "".join(line + "\n" for line in lines))
    write_text_atomic(folder / "MLTable", MLTABLE_TEXT.format(file=ANNOTATIONS_NAME))
    return folder


def _hashed(records: list[dict]) -> list[dict]:
    """Records with content hashes, so identical images stay on one side of the split."""
    probes = probe_images([r["image_url"] for r in records])
    return [{**r, HASH_KEY: p.sha1 or None} for r, p in zip(records, probes, strict=True)]


def _common_root(records: list[dict]) -> str:
    parents = [os.path.dirname(r["image_url"]) for r in records]
    return os.path.commonpath(parents) if parents else "."


def _summary(result: ConversionResult, outputs: list[str]) -> ConvertSummary:
    classes = Counter(n for r in result.records for n in label_names(result.task, r["label"]))
    n_objects = sum(len(r["label"]) for r in result.records) if result.task in OBJECT_TASKS else 0
    return ConvertSummary(
        task=result.task,
        n_images=len(result.records),
        n_objects=n_objects,
        classes=dict(sorted(classes.items())),
        outputs=outputs,
        warnings=list(result.warnings),
    )
