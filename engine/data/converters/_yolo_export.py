"""Our train/validation manifests in Ultralytics' dataset layout (the reverse of `_yolo.py`).

`export_yolo_dataset(export)` writes, once per content, next to the manifests:
`yolo/<key>/images/{train,valid}/` (images linked, or re-encoded for URLs and odd
formats), `labels/{train,valid}/<stem>.txt` (detection `cls cx cy w h`, segmentation
`cls x1 y1 x2 y2 ...`, normalised; crowd objects left out) and `data.yaml`. With tiling the
training set also holds each image's annotated tiles (docs/azure-compatibility.md §9); validation
stays full
images. The YOLO trainer (engine/training/_yolo.py) calls it and supplies the tile geometry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from automl.engine.data.manifest import read_manifest

logger = logging.getLogger("automl.data")

DATASET_FORMAT = 1  # bump when the converted layout changes (part of the cache key)
LINKED_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
Window = tuple[int, int, int, int]


@dataclass(frozen=True)
class YoloTiling:
    """Training tiles: the grid and overlap (part of the cache key), the tile windows of an
    image (`windows(width, height, grid, overlap)`) and a target cut to one window
    (`crop_target(target, window)`), the geometry the torchvision families train on."""

    grid: tuple[int, int]
    overlap: float
    windows: Callable[[int, int, tuple[int, int], float], list[Window]]
    crop_target: Callable[[dict, Window], dict]


@dataclass(frozen=True)
class YoloExport:
    """What to convert: the manifests, the labels in index order, the task's name (part of
    the cache key), whether objects are polygons (segmentation), and optional tiling."""

    train_manifest: Path
    valid_manifest: Path
    labels: list[str]
    task: str
    segmentation: bool
    tiling: YoloTiling | None = None


def dataset_key(export: YoloExport) -> str:
    """Content hash of what the converted dataset depends on (tiling included)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([DATASET_FORMAT, export.task, list(export.labels)]).encode())
    if export.tiling is not None:  # untiled keys stay as they were: conversions are reused
        tiling = export.tiling
        digest.update(json.dumps(["tiles", list(tiling.grid), tiling.overlap]).encode())
    for path in (export.train_manifest, export.valid_manifest):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def export_yolo_dataset(export: YoloExport) -> Path:
    """data.yaml of the manifests in Ultralytics' layout, converted once per content
    (trials of a sweep share it; a concurrent conversion loses the rename race harmlessly)."""
    root = Path(export.train_manifest).parent / "yolo" / dataset_key(export)
    data_yaml = root / "data.yaml"
    if data_yaml.is_file():
        return data_yaml
    staging = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    write_yolo_dataset(export, staging, final_root=root)
    try:
        staging.rename(root)
    except OSError:  # another trial finished the same conversion first
        shutil.rmtree(staging, ignore_errors=True)
    return data_yaml


def write_yolo_dataset(export: YoloExport, root: Path, final_root: Path) -> None:
    """Write the layout into `root`; data.yaml names `final_root`, where it will live."""
    labels, tiling = list(export.labels), export.tiling
    n_tiles = 0
    for split, manifest in (("train", export.train_manifest), ("valid", export.valid_manifest)):
        for i, record in enumerate(read_manifest(manifest)):
            write_yolo_item(root, split, i, record, labels, export.segmentation)
            # validation stays full images: the YOLO predictor tiles them itself
            if tiling is not None and split == "train":
                n_tiles += write_yolo_tiles(root, i, record, labels, tiling)
    if tiling is not None:
        logger.info("tiling %s: %d tiles added to the YOLO training set", tiling.grid, n_tiles)
    names = "\n".join(f"  {i}: {json.dumps(name)}" for i, name in enumerate(labels))
    (root / "data.yaml").write_text(
        f"path: {final_root}\ntrain: images/train\nval: images/valid\nnames:\n{names}\n",
        encoding="utf-8",
    )


def write_yolo_item(
    root: Path, split: str, i: int, record: dict, labels: list[str], segmentation: bool
) -> None:
    """Link (or, for URLs and odd formats, re-encode) one image and write its label file."""
    from automl.engine.data.images import load_image_rgb

    source = str(record["image_url"])
    suffix = Path(source).suffix.lower()
    stem = item_stem(i, record)
    image_dir, label_dir = split_dirs(root, split)
    if os.path.isfile(source) and suffix in LINKED_SUFFIXES:
        os.symlink(os.path.abspath(source), image_dir / f"{stem}{suffix}")
    else:
        load_image_rgb(source).save(image_dir / f"{stem}.png")
    lines = [label_line(o, labels, segmentation) for o in record["label"] if not o.get("isCrowd")]
    (label_dir / f"{stem}.txt").write_text("".join(line + "\n" for line in lines if line))


def item_stem(i: int, record: dict) -> str:
    """File stem of manifest row `i` (the index keeps equal file names apart)."""
    return f"{i:06d}_{Path(str(record['image_url'])).stem}"[:120]


def split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    """images/<split> and labels/<split> of the layout, created."""
    image_dir, label_dir = root / "images" / split, root / "labels" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    return image_dir, label_dir


def write_yolo_tiles(
    root: Path, i: int, record: dict, labels: list[str], tiling: YoloTiling
) -> int:
    """The annotated tiles of manifest row `i` as extra training images
    (docs/azure-compatibility.md §9:
    boxes intersected with each tile and made relative to it, tiles without boxes left
    out), the same tiles TiledDetectionDataset gives the torchvision families; returns how
    many were written."""
    from automl.engine.data.datasets import DetectionDataset
    from automl.engine.data.images import load_image_rgb

    image = load_image_rgb(record["image_url"])
    target = DetectionDataset([record], labels, label_offset=0).target(0, *image.size)
    image_dir, label_dir = split_dirs(root, "train")
    written = 0
    for k, window in enumerate(tiling.windows(*image.size, tiling.grid, tiling.overlap)):
        tiled = tiling.crop_target(target, window)
        if not len(tiled["boxes"]):
            continue
        stem = f"{item_stem(i, record)}_tile{k:03d}"
        # JPEG keeps the tile folder small; quality 95 is far above what training notices
        image.crop(window).save(image_dir / f"{stem}.jpg", quality=95)
        lines = tile_label_lines(tiled, window)
        (label_dir / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
        written += 1
    return written


def tile_label_lines(tiled: dict, window: Window) -> list[str]:
    """`cls cx cy w h` of a tile's boxes (tile pixels), normalised by the tile size;
    crowd objects are not training data (as for full images)."""
    width, height = window[2] - window[0], window[3] - window[1]
    lines = []
    for box, cls, crowd in zip(
        tiled["boxes"].tolist(), tiled["labels"].tolist(), tiled["iscrowd"].tolist(), strict=True
    ):
        if crowd:
            continue
        x0, x1 = (min(max(v / width, 0.0), 1.0) for v in (box[0], box[2]))
        y0, y1 = (min(max(v / height, 0.0), 1.0) for v in (box[1], box[3]))
        values = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
        lines.append(" ".join([str(cls)] + [f"{v:.6f}" for v in values]))
    return lines


def label_line(obj: dict, labels: list[str], segmentation: bool) -> str:
    """`cls cx cy w h` (detection) or `cls x1 y1 x2 y2 ...` (segmentation), normalised."""
    cls = labels.index(obj["label"])
    if segmentation:
        from automl.engine.data.masks import polygon_area

        part = max(obj["polygon"], key=polygon_area)  # one polygon per line in YOLO files
        return " ".join([str(cls)] + [f"{min(max(v, 0.0), 1.0):.6f}" for v in part])
    x0, y0 = max(obj["topX"], 0.0), max(obj["topY"], 0.0)
    x1, y1 = min(obj["bottomX"], 1.0), min(obj["bottomY"], 1.0)
    if x1 <= x0 or y1 <= y0:
        return ""
    values = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
    return " ".join([str(cls)] + [f"{v:.6f}" for v in values])
