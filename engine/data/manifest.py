"""Manifests: the resolved, checked form of a dataset that trials read.

A manifest is a JSONL file, one image per line:

    {"image_url": "/abs/path/img.jpg", "label": <task label>,
     "image_details": {"width": 640, "height": 480}, "source": "train.jsonl:12"}

`image_url` is an absolute local path (or a URL the data layer can open), labels are in
their normalised per-task form (see `engine.data` label parsing), `source` is the file and
line the record came from, so later errors can still point at the user's file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from automl.engine.utils.files import write_text_atomic


def write_manifest(path: str | os.PathLike, records: list[dict]) -> None:
    """Write records as a manifest (atomically)."""
    lines = [json.dumps(record, separators=(",", ":")) for record in records]
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Read a manifest written by `write_manifest`."""
    with open(Path(path), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
