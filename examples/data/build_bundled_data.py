"""Rebuild the bundled example datasets in examples/data/ from ../shared/datasets.

    python examples/data/build_bundled_data.py [--shared PATH]

Deterministic: the same sources give the same files (sorted inputs, fixed subset rules,
Pillow's JPEG encoder at fixed quality). Annotations go through the project's own
converters (folder, csv, voc, coco); images are EXIF-oriented, converted to RGB and
downscaled (longest side below) so the whole folder stays at a few MB. Normalised
coordinates do not change with a uniform downscale. Every dataset is checked with the
dataset doctor at the end; the script fails if any has a problem.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import sys
from pathlib import Path

from PIL import Image

from automl.engine.data import check_dataset
from automl.engine.data.converters import ConvertOptions, read_source, write_mltable_folder
from automl.engine.data.images import load_image_rgb

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
JPEG_QUALITY = 85


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared" / "datasets")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    builders = {
        "flowers5": (build_flowers5, "image_classification"),
        "chess_multilabel": (build_chess_multilabel, "image_classification_multilabel"),
        "raccoon": (build_raccoon, "image_object_detection"),
        "coco_seg": (build_coco_seg, "image_instance_segmentation"),
    }
    failed = False
    for name, (build, task) in builders.items():
        dest = args.out / name
        shutil.rmtree(dest, ignore_errors=True)
        counts = build(args.shared, dest)
        report = check_dataset(dest, task)
        size_kb = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) / 1024
        print(f"{name}: {counts}, {size_kb:.0f} KB, {len(report.problems)} problems")
        for problem in report.problems:
            print(f"  problem: {problem}")
        failed |= not report.ok
    return 1 if failed else 0


def write_split(records: list[dict], split_dir: Path, longest_side: int, subfolder=None) -> None:
    """Downscale each record's image into split_dir/images/ and write JSONL + MLTable."""
    written = []
    for record in records:
        source = Path(record["image_url"])
        folder = split_dir / "images" / (subfolder(record) if subfolder else "")
        target = folder / (source.stem + ".jpg")
        width, height = downscale(source, target, longest_side)
        details = {"format": "jpg", "width": width, "height": height}
        written.append({**record, "image_url": str(target), "image_details": details})
    write_mltable_folder(written, split_dir)


def downscale(source: Path, target: Path, longest_side: int) -> tuple[int, int]:
    image = load_image_rgb(source)
    scale = min(1.0, longest_side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return size


def file_hash(path: str) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def drop_duplicates(records: list[dict]) -> list[dict]:
    """Keep the first of identical images (same bytes): they would leak across the split."""
    seen, kept = set(), []
    for record in records:
        digest = file_hash(record["image_url"])
        if digest not in seen:
            seen.add(digest)
            kept.append(record)
    return kept


def build_flowers5(shared: Path, dest: Path) -> str:
    src = shared / "flowers5"
    for split, upstream in (("train", "train"), ("valid", "val")):
        records = read_source("folder", src / upstream).records
        write_split(records, dest / split, 160, subfolder=lambda r: r["label"])
    shutil.copy(src / "LICENSE.txt", dest / "LICENSE.txt")
    write_text(dest / "SOURCE.md", FLOWERS_SOURCE)
    return "200 train / 50 valid images"


def build_chess_multilabel(shared: Path, dest: Path) -> str:
    src = shared / "chess_pieces"
    records = read_source(
        "csv", src / "multilabel.csv", None, ConvertOptions(images=src, separator="|")
    ).records
    for split in ("train", "valid"):
        chosen = [r for r in records if Path(r["image_url"]).parent.name == split]
        write_split(chosen, dest / split, 224)
    for name in ("README.dataset.txt", "README.roboflow.txt"):
        shutil.copy(src / name, dest / name)
    write_text(dest / "LICENSE.md", CHESS_LICENSE)
    write_text(dest / "SOURCE.md", CHESS_SOURCE)
    return "60 train / 20 valid images"


def build_raccoon(shared: Path, dest: Path) -> str:
    src = shared / "raccoon"
    records = drop_duplicates(read_source("voc", src / "annotations").records)[:50]
    valid = [r for i, r in enumerate(records) if i % 5 == 0]
    train = [r for i, r in enumerate(records) if i % 5 != 0]
    write_split(train, dest / "train", 256)
    write_split(valid, dest / "valid", 256)
    shutil.copy(src / "LICENSE", dest / "LICENSE")
    write_text(dest / "SOURCE.md", RACCOON_SOURCE)
    return f"{len(train)} train / {len(valid)} valid images"


def build_coco_seg(shared: Path, dest: Path) -> str:
    src = shared / "coco128"
    annotations = src / "annotations" / "instances_coco128_commercial_ok.json"
    result = read_source(
        "coco", annotations, "image_instance_segmentation", ConvertOptions(images=src / "images")
    )
    train, valid = split_keeping_classes(result.records, target=len(result.records) // 5)
    write_split(train, dest / "train", 256)
    write_split(valid, dest / "valid", 256)
    write_coco_licenses(src, [r["image_url"] for r in result.records], dest / "LICENSE.md")
    write_text(dest / "SOURCE.md", COCO_SOURCE)
    return f"{len(train)} train / {len(valid)} valid images"


def split_keeping_classes(records: list[dict], target: int) -> tuple[list, list]:
    """Validation = the first images (in file order) whose every class keeps a training image."""
    counts: dict[str, int] = {}
    for record in records:
        for name in {o["label"] for o in record["label"]}:
            counts[name] = counts.get(name, 0) + 1
    valid_ids = set()
    for i, record in enumerate(records):
        names = {o["label"] for o in record["label"]}
        if len(valid_ids) < target and names and all(counts[n] > 1 for n in names):
            valid_ids.add(i)
            for name in names:
                counts[name] -= 1
    train = [r for i, r in enumerate(records) if i not in valid_ids]
    valid = [r for i, r in enumerate(records) if i in valid_ids]
    return train, valid


def write_coco_licenses(src: Path, images: list[str], target: Path) -> None:
    keep = {Path(p).name for p in images}
    with open(src / "image_licenses.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["file_name"] in keep]
    lines = [COCO_LICENSE, "| image | licence | licence URL | Flickr URL |", "|---|---|---|---|"]
    lines += [
        f"| {r['file_name']} | {r['license_name']} | {r['license_url']} | {r['flickr_url']} |"
        for r in sorted(rows, key=lambda r: r["file_name"])
    ]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_text(target: Path, text: str) -> None:
    target.write_text(text.strip() + "\n", encoding="utf-8")


BUILDER_NOTE = (
    "Rebuilt by `examples/data/build_bundled_data.py` from `../shared/datasets` "
    "(deterministic). Images were EXIF-oriented, converted to RGB, **downscaled** and "
    "re-encoded as JPEG quality 85; normalised annotations are unchanged by the downscale."
)

FLOWERS_SOURCE = f"""
# flowers5 (bundled) — multi-class classification, 5 flower species

- **From:** `shared/datasets/flowers5`, a subset of TensorFlow's `flower_photos`
  (images via https://github.com/Oldpel/flower_photos commit 140ff6f3).
- **Licence:** CC BY 2.0 for every image; photographers and Flickr URLs in `LICENSE.txt`
  (kept: attribution is required when redistributing).
- **Subset rule:** all 250 images of the shared subset: its `train/` (40 per class) ->
  `train/`, its `val/` (10 per class) -> `valid/`. Converted with the `folder` converter.
- **Downscaled:** longest side 160 px. {BUILDER_NOTE}
- **Counts:** train 200, valid 50; classes daisy, dandelion, roses, sunflowers, tulips.
"""

CHESS_SOURCE = f"""
# chess_multilabel (bundled) — multi-label classification of chess pieces

- **From:** `shared/datasets/chess_pieces`, Roboflow's public "Chess Pieces" dataset
  (https://github.com/jsansao/ChessPiecesv23 commit 246442c3), via its derived
  `multilabel.csv` (the set of piece classes present in each image).
- **Licence:** Public Domain (CC0 1.0 per the COCO `licenses` entry); `README.dataset.txt`
  and `README.roboflow.txt` are copied unchanged; see `LICENSE.md`.
- **Subset rule:** the shared subset's `train` images (60) -> `train/`, its `valid`
  images (20) -> `valid/` (test images not used). Converted with the `csv` converter
  (`|`-separated labels).
- **Downscaled:** longest side 224 px (from 2048x1371). {BUILDER_NOTE}
"""

CHESS_LICENSE = """
# Licence

Public Domain. Roboflow's export (`README.dataset.txt`) states "License: Public Domain"
and its COCO `licenses` entry points to CC0 1.0:
https://creativecommons.org/publicdomain/zero/1.0/
"""

RACCOON_SOURCE = f"""
# raccoon (bundled) — object detection, 1 class

- **From:** `shared/datasets/raccoon` = https://github.com/datitran/raccoon_dataset
  commit 93938849 (Pascal VOC XML per image).
- **Licence:** MIT (`LICENSE`, "Copyright (c) 2017 Dat Tran"). Upstream notes the
  images were collected from Google and Pixabay.
- **Subset rule:** VOC files in natural order (raccoon-1, raccoon-2, ...), byte-identical
  duplicate images dropped (upstream has a few), the first 50 kept; every 5th of those
  (index % 5 == 0, Azure's sample rule) -> `valid/` (10), the rest -> `train/` (40).
  Converted with the `voc` converter.
- **Downscaled:** longest side 256 px. {BUILDER_NOTE}
"""

COCO_SOURCE = f"""
# coco_seg (bundled) — instance segmentation, COCO classes

- **From:** `shared/datasets/coco128` (first 128 COCO train2017 images,
  https://github.com/developer0hye/COCO128 commit 47a3de30), only the **39 images whose
  Flickr licence allows commercial use** (`instances_coco128_commercial_ok.json`:
  licences CC BY, CC BY-SA, CC BY-ND, "no known copyright restrictions"); no other image
  file is used.
- **Licence:** annotations CC BY 4.0 (COCO Consortium); images under the per-image
  licences listed in `LICENSE.md` (attribution: the Flickr URL of each photo).
- **Subset rule:** all 39 images, converted with the `coco` converter (polygons kept;
  the crowd RLE masks turned into polygons by our RLE decoder and contour tracer).
  Validation = the first images in file order (up to 20%, i.e. 7) whose every class
  still appears in another training image, so no validation class is unseen in training.
- **Downscaled:** longest side 256 px. {BUILDER_NOTE}
"""

COCO_LICENSE = """
# Licences

- Annotations: COCO Consortium, CC BY 4.0 (https://cocodataset.org/#termsofuse).
- Images: Flickr photos under the licence listed per image below (only licences that
  allow commercial use were kept). Attribution: the Flickr URL of each photo.
"""

if __name__ == "__main__":
    sys.exit(main())
