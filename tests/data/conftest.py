"""Small synthetic datasets for the data-layer tests (images 32-64 px, in tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]

SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
BUNDLED = REPO_ROOT / "examples" / "data"

MLTABLE = """\
paths:
  - file: ./annotations.jsonl
transformations:
  - read_json_lines:
      encoding: {encoding}
      invalid_lines: {invalid_lines}
      include_path_column: {include_path}
  - convert_column_types:
      - columns: image_url
        column_type: stream_info
"""


def shared(*parts: str) -> Path:
    """A path under ../shared/datasets; skips the test when it is absent."""
    path = SHARED_DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared dataset {path} not available")
    return path


def write_image(path: Path, index: int = 0, size=(48, 32), mode: str = "RGB") -> Path:
    """A small image whose content differs with `index` (so content hashes differ)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = ((index * 37) % 256, (index * 91 + 40) % 256, (index * 53 + 80) % 256)
    image = Image.new("RGB", size, colour)
    image.putpixel((index % size[0], (index // size[0]) % size[1]), (255, 255, 255))
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, "PNG" if path.suffix == ".png" else "JPEG", quality=95)
    return path


def write_table(
    folder: Path, rows: list, *, encoding="utf8", invalid_lines="error", include_path=False
) -> Path:
    """annotations.jsonl (dict rows as JSON, str rows verbatim) + MLTable in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    python_encoding = {"utf8": "utf-8", "latin1": "latin-1"}.get(encoding, encoding)
    (folder / "annotations.jsonl").write_text("\n".join(lines) + "\n", encoding=python_encoding)
    (folder / "MLTable").write_text(
        MLTABLE.format(
            encoding=encoding, invalid_lines=invalid_lines, include_path=str(include_path).lower()
        ),
        encoding="utf-8",
    )
    return folder


def classification_rows(folder: Path, labels: list, start: int = 0) -> list[dict]:
    """One distinct image per label, image_url relative to `folder`."""
    rows = []
    for i, label in enumerate(labels, start=start):
        write_image(folder / "images" / f"img{i}.jpg", i)
        rows.append({"image_url": f"images/img{i}.jpg", "label": label})
    return rows


def box(label="cat", x1=0.1, y1=0.2, x2=0.5, y2=0.8, crowd=0) -> dict:
    return {"label": label, "topX": x1, "topY": y1, "bottomX": x2, "bottomY": y2, "isCrowd": crowd}


@pytest.fixture
def multiclass_table(tmp_path) -> Path:
    """12 images, classes a (6) and b (6)."""
    folder = tmp_path / "mc"
    return write_table(folder, classification_rows(folder, ["a", "b"] * 6))


@pytest.fixture
def detection_table(tmp_path) -> Path:
    """10 images with 1-2 boxes each."""
    folder = tmp_path / "det"
    rows = []
    for i in range(10):
        write_image(folder / "images" / f"img{i}.jpg", i, size=(64, 40))
        objects = [box("cat")] + ([box("dog", 0.5, 0.5, 1.0, 1.0)] if i % 2 else [])
        rows.append({"image_url": f"images/img{i}.jpg", "label": objects})
    return write_table(folder, rows)
