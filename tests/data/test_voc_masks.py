"""VOC instance masks (SegmentationObject PNGs) -> polygons, on real COCO images and shapes.

The VOC files are made from the bundled coco_seg validation set: each object's polygons
are drawn into a palette PNG with its number in XML order (255 on a one-pixel "void" ring
around each object, as VOC draws it), so converting back must give the same objects with
nearly the same areas.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from automl.engine.data.converters import ConvertOptions, read_source
from automl.engine.data.masks import polygons_to_mask
from automl.engine.errors import DataError

IS = "image_instance_segmentation"
COCO_SEG = Path(__file__).parents[2] / "examples" / "data" / "coco_seg" / "valid"


def source_records() -> list[dict]:
    lines = (COCO_SEG / "annotations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def write_voc(root: Path, records: list[dict], skip_mask_of: int | None = None) -> None:
    """VOC layout: Annotations/*.xml, JPEGImages/*.jpg, SegmentationObject/*.png."""
    for folder in ("Annotations", "JPEGImages", "SegmentationObject"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for index, record in enumerate(records):
        image_path = COCO_SEG / record["image_url"]
        name = Path(record["image_url"]).name
        (root / "JPEGImages" / name).write_bytes(image_path.read_bytes())
        w, h = record["image_details"]["width"], record["image_details"]["height"]
        objects = "".join(
            f"<object><name>{o['label']}</name><difficult>{int(o['isCrowd'])}</difficult>"
            "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>"
            for o in record["label"]
        )
        (root / "Annotations" / f"{Path(name).stem}.xml").write_text(
            f"<annotation><filename>{name}</filename><size><width>{w}</width>"
            f"<height>{h}</height><depth>3</depth></size>{objects}</annotation>"
        )
        if index == skip_mask_of:
            continue
        mask = Image.new("P", (w, h), 0)
        draw = ImageDraw.Draw(mask)
        for number, obj in enumerate(record["label"], start=1):
            for polygon in obj["polygon"]:
                points = [(x * w, y * h) for x, y in zip(polygon[::2], polygon[1::2], strict=True)]
                draw.polygon(points, fill=number, outline=255)  # VOC's void border
        mask.putpalette([0, 0, 0] + [128, 0, 0] * 254 + [224, 224, 192])
        mask.save(root / "SegmentationObject" / f"{Path(name).stem}.png")


def test_object_masks_become_the_same_objects(tmp_path):
    """Every object with pixels in the PNG comes back, in XML order, with its label and
    isCrowd, and its polygons redraw its pixels (IoU); objects hidden behind later ones or
    reduced to the void ring are skipped, as VOC has no pixels for them."""
    records = source_records()[:6]
    write_voc(tmp_path / "voc", records)
    result = read_source("voc", tmp_path / "voc" / "Annotations", IS)
    assert result.task == IS and len(result.records) == len(records)
    n_objects = 0
    for source, converted in zip(records, result.records, strict=True):
        stem = Path(source["image_url"]).stem
        assert Path(converted["image_url"]).stem == stem
        indices = np.asarray(Image.open(tmp_path / "voc" / "SegmentationObject" / f"{stem}.png"))
        present = [n for n in range(1, len(source["label"]) + 1) if (indices == n).any()]
        assert [o["label"] for o in converted["label"]] == [
            source["label"][n - 1]["label"] for n in present
        ]
        height, width = indices.shape
        for number, obj in zip(present, converted["label"], strict=True):
            assert obj["isCrowd"] == source["label"][number - 1]["isCrowd"]
            pixels = [
                [v * (width if i % 2 == 0 else height) for i, v in enumerate(p)]
                for p in obj["polygon"]
            ]
            drawn, truth = polygons_to_mask(pixels, width, height) > 0, indices == number
            overlap = (drawn & truth).sum()
            if truth.sum() >= 20:  # every object's pixels are covered by its polygons
                assert overlap / truth.sum() >= 0.9, obj["label"]
            if truth.sum() >= 200:  # and not much more (polygon vertices sit on pixel
                # corners, so redrawing adds up to a pixel row: small objects exempt)
                assert overlap / (drawn | truth).sum() >= 0.75, obj["label"]
            n_objects += 1
    assert n_objects >= 20


def test_images_without_a_mask_are_skipped_with_a_warning(tmp_path):
    records = source_records()[:3]
    write_voc(tmp_path / "voc", records, skip_mask_of=1)
    result = read_source("voc", tmp_path / "voc" / "Annotations", IS)
    assert len(result.records) == 2
    assert any("no object mask" in w for w in result.warnings)


def test_cli_converts_voc_masks_with_an_explicit_folder(tmp_path, cli):
    write_voc(tmp_path / "voc", source_records()[:4])
    masks = tmp_path / "voc" / "SegmentationObject"
    moved = tmp_path / "masks"
    masks.rename(moved)
    args = ["data", "convert", "--from", "voc", "--input", str(tmp_path / "voc" / "Annotations")]
    args += ["--output-dir", str(tmp_path / "out"), "--task", IS]
    code, _, err = cli(args)
    assert code == 1 and "SegmentationObject" in err and "--masks" in err
    code, _, err = cli([*args, "--masks", moved])
    assert code == 0, err
    lines = (tmp_path / "out" / "annotations.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["label"] for line in lines)


def test_rgb_mask_is_refused_with_the_file_named(tmp_path):
    write_voc(tmp_path / "voc", source_records()[:1])
    png = next((tmp_path / "voc" / "SegmentationObject").glob("*.png"))
    Image.open(png).convert("RGB").save(png)
    with pytest.raises(DataError, match="palette") as error:
        read_source("voc", tmp_path / "voc" / "Annotations", IS, ConvertOptions())
    assert png.name in str(error.value)
