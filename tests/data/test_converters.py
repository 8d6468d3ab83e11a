import csv
import json

import pytest

from automl.engine.data import read_dataset
from automl.engine.data.converters import (
    CONVERTERS,
    ConvertOptions,
    convert_dataset,
    read_source,
)
from automl.engine.errors import RegistryError

from .conftest import shared, write_image

OD, IS = "image_object_detection", "image_instance_segmentation"


def _pixel_boxes(records):
    boxes = {}
    for r in records:
        w, h = r["image_details"]["width"], r["image_details"]["height"]
        name = r["image_url"].rsplit("/", 1)[-1]
        boxes[name] = sorted(
            (o["label"], o["topX"] * w, o["topY"] * h, o["bottomX"] * w, o["bottomY"] * h)
            for o in r["label"]
            if not o["isCrowd"]
        )
    return boxes


def _assert_within_one_pixel(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert len(a[name]) == len(b[name]), name
        remaining = list(b[name])
        for box_a in a[name]:  # nearest same-label box: sorting alone mis-pairs close boxes
            same = [box_b for box_b in remaining if box_b[0] == box_a[0]]
            nearest = min(same, key=lambda box_b: _distance(box_a, box_b))
            assert _distance(box_a, nearest) <= 1.0, name
            remaining.remove(nearest)


def _distance(box_a, box_b):
    return max(abs(p - q) for p, q in zip(box_a[1:], box_b[1:], strict=True))


def test_coco128_coco_and_yolo_detection_agree():
    images = shared("coco128", "images")
    coco = read_source(
        "coco",
        shared("coco128", "annotations", "instances_coco128.json"),
        OD,
        ConvertOptions(images=images),
    )
    yolo = read_source(
        "yolo", shared("coco128", "labels_yolo_det"), OD, ConvertOptions(images=images)
    )
    assert len(coco.records) == len(yolo.records) == 128
    assert sum(len(r["label"]) for r in coco.records) == 939
    assert sum(not o["isCrowd"] for r in coco.records for o in r["label"]) == 929
    _assert_within_one_pixel(_pixel_boxes(coco.records), _pixel_boxes(yolo.records))


def test_raccoon_voc_matches_its_csv_within_one_pixel():
    voc = read_source("voc", shared("raccoon", "annotations"))
    assert len(voc.records) == 200 and sum(len(r["label"]) for r in voc.records) == 217
    expected = {}
    with open(shared("raccoon", "csv", "raccoon_labels.csv"), newline="") as handle:
        for row in csv.DictReader(handle):
            coords = tuple(float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
            expected.setdefault(row["filename"], []).append((row["class"], *coords))
    _assert_within_one_pixel(_pixel_boxes(voc.records), {k: sorted(v) for k, v in expected.items()})


def test_coco128_segmentation_polygons_and_rle():
    result = read_source(
        "coco",
        shared("coco128", "annotations", "instances_coco128.json"),
        IS,
        ConvertOptions(images=shared("coco128", "images")),
    )
    objects = [o for r in result.records for o in r["label"]]
    assert len(objects) == 939 and sum(o["isCrowd"] for o in objects) == 10
    assert all(len(s) >= 6 and all(0 <= v <= 1 for v in s) for o in objects for s in o["polygon"])
    yolo = read_source(
        "yolo",
        shared("coco128", "labels_yolo_seg"),
        None,
        ConvertOptions(images=shared("coco128", "images")),
    )
    assert yolo.task == IS and sum(len(r["label"]) for r in yolo.records) == 746


def test_flowers5_folders_and_chess_csv_against_its_coco():
    flowers = read_source("folder", shared("flowers5", "train"))
    assert len(flowers.records) == 200
    assert {r["label"] for r in flowers.records} == {
        "daisy",
        "dandelion",
        "roses",
        "sunflowers",
        "tulips",
    }
    chess = shared("chess_pieces")
    tags = read_source("csv", chess / "multilabel.csv", None, ConvertOptions(images=chess))
    assert len(tags.records) == 100
    coco = read_source(
        "coco", chess / "train" / "_annotations.coco.json", "image_classification_multilabel"
    )
    from_coco = {r["image_url"]: r["label"] for r in coco.records}
    from_csv = {
        r["image_url"]: sorted(r["label"]) for r in tags.records if r["image_url"] in from_coco
    }
    assert len(from_csv) == 60 and from_csv == from_coco


def _tiny_sources(tmp_path):
    """One tiny input per format: 10 images, 2 classes."""
    images = tmp_path / "images"
    for i in range(10):
        write_image(images / f"im{i}.jpg", i, size=(40, 20))
    coco = {
        "images": [
            {"id": i, "file_name": f"im{i}.jpg", "width": 40, "height": 20} for i in range(10)
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {
                "id": i,
                "image_id": i,
                "category_id": 1 + i % 2,
                "iscrowd": 0,
                "bbox": [4, 2, 20, 10],
                "segmentation": [[4, 2, 24, 2, 24, 12]],
            }
            for i in range(10)
        ],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    voc = tmp_path / "voc"
    voc.mkdir()
    for i in range(10):
        (voc / f"im{i}.xml").write_text(
            f"<annotation><filename>im{i}.jpg</filename><size><width>40</width>"
            f"<height>20</height></size><object><name>{'ab'[i % 2]}</name><difficult>0"
            "</difficult><bndbox><xmin>4</xmin><ymin>2</ymin><xmax>24</xmax><ymax>12</ymax>"
            "</bndbox></object></annotation>"
        )
    yolo = tmp_path / "labels"
    yolo.mkdir()
    (yolo / "classes.txt").write_text("a\nb\n")
    for i in range(10):
        (yolo / f"im{i}.txt").write_text(f"{i % 2} 0.35 0.35 0.5 0.5\n")
    folders = tmp_path / "folders"
    for i in range(10):
        write_image(folders / "ab"[i % 2] / f"im{i}.jpg", i)
    (images / "tags.csv").write_text(
        "filename,labels\n" + "".join(f"im{i}.jpg,a {'b' if i % 2 else ''}\n" for i in range(10))
    )
    return {
        "coco": (tmp_path / "coco.json", OD, ConvertOptions(images=images)),
        "voc": (voc, OD, ConvertOptions(images=images)),
        "yolo": (yolo, OD, ConvertOptions(images=images)),
        "folder": (folders, "image_classification", ConvertOptions()),
        "csv": (images / "tags.csv", "image_classification_multilabel", ConvertOptions()),
    }


@pytest.mark.parametrize("fmt", CONVERTERS.names())
def test_every_converter_round_trips_through_jsonl_and_mltable(tmp_path, fmt):
    source, task, options = _tiny_sources(tmp_path)[fmt]
    summary = convert_dataset(fmt, source, tmp_path / "out", options=options)
    assert summary.task == task and summary.n_images == 10
    records, report = read_dataset(tmp_path / "out", task)
    assert report.ok, report.problems
    assert len(records) == 10
    if task == OD:
        first = records[0]["label"][0]
        assert (first["topX"] * 40, first["bottomY"] * 20) == pytest.approx((4, 12), abs=0.51)


def test_convert_with_validation_size_writes_a_pair(tmp_path):
    source, _, options = _tiny_sources(tmp_path)["folder"]
    summary = convert_dataset("folder", source, tmp_path / "out", validation_size=0.2)
    assert [p.rsplit("/", 1)[-1] for p in summary.outputs] == ["train", "valid"]
    assert len(read_dataset(tmp_path / "out" / "valid", "image_classification")[0]) == 2


def test_unknown_converter_suggests_the_closest():
    with pytest.raises(RegistryError, match="did you mean 'coco'"):
        CONVERTERS.get("cocoo")
