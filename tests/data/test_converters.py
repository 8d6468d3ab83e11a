import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from automl.engine.data import read_dataset
from automl.engine.data.converters import (
    CONVERTERS,
    ConvertOptions,
    convert_dataset,
    read_source,
)
from automl.engine.data.converters._base import image_size
from automl.engine.data.converters._yolo import read_names
from automl.engine.errors import DataError, LimitError, RegistryError

from .conftest import BUNDLED, shared, write_image

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


RACCOON = BUNDLED / "raccoon"


def _raccoon_records(side: str, n: int) -> list[dict]:
    lines = (RACCOON / side / "annotations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:n]]


def _write_voc_tree(root: Path, annotations: str, images: str, records: list[dict]) -> None:
    """The bundled raccoon images as a VOC tree: XML in `annotations`, JPEGs in `images`."""
    for record in records:
        name = Path(record["image_url"]).name
        source = RACCOON / record["side"] / record["image_url"]
        (root / images).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / images / name)
        w, h = record["image_details"]["width"], record["image_details"]["height"]
        objects = "".join(
            f"<object><name>{o['label']}</name><difficult>0</difficult><bndbox>"
            f"<xmin>{o['topX'] * w:.1f}</xmin><ymin>{o['topY'] * h:.1f}</ymin>"
            f"<xmax>{o['bottomX'] * w:.1f}</xmax><ymax>{o['bottomY'] * h:.1f}</ymax>"
            "</bndbox></object>"
            for o in record["label"]
        )
        (root / annotations).mkdir(parents=True, exist_ok=True)
        (root / annotations / f"{Path(name).stem}.xml").write_text(
            f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}"
            f"</height><depth>3</depth></size>{objects}</annotation>"
        )


def _raccoon_sides() -> tuple[list[dict], list[dict]]:
    train = [{**r, "side": "train"} for r in _raccoon_records("train", 10)]
    valid = [{**r, "side": "valid"} for r in _raccoon_records("valid", 3)]
    return train, valid


@pytest.mark.parametrize(
    ("annotations", "images"), [("annotations", "images"), ("Annotations", "JPEGImages")]
)
def test_voc_dataset_root_with_its_image_folder(tmp_path, annotations, images):
    train, valid = _raccoon_sides()
    _write_voc_tree(tmp_path / "raccoon", annotations, images, train + valid)
    result = read_source("voc", tmp_path / "raccoon")  # the root, not the XML folder
    assert len(result.records) == 13 and result.splits is None
    assert all(Path(r["image_url"]).parent.name == images for r in result.records)
    assert sum(len(r["label"]) for r in result.records) == sum(
        len(r["label"]) for r in train + valid
    )


def test_vocdevkit_image_sets_are_the_train_validation_split(tmp_path):
    train, valid = _raccoon_sides()
    year = tmp_path / "VOCdevkit" / "VOC2012"
    _write_voc_tree(year, "Annotations", "JPEGImages", train + valid)
    sets = year / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    stems = {
        side: [Path(r["image_url"]).stem for r in rows]
        for side, rows in (("train", train), ("val", valid))
    }
    (sets / "train.txt").write_text("\n".join(stems["train"]) + "\n")
    (sets / "val.txt").write_text("\n".join(stems["val"]) + "\n")
    (sets / "raccoon_train.txt").write_text(f"{stems['train'][0]}  1\n")  # per-class: ignored
    summary = convert_dataset("voc", tmp_path / "VOCdevkit", tmp_path / "out")
    assert [Path(p).name for p in summary.outputs] == ["train", "valid"]
    assert summary.n_images == 13
    records = {}
    for side in ("train", "valid"):
        records[side], report = read_dataset(tmp_path / "out" / side, OD)
        assert report.ok, report.problems
    assert [Path(r["image_url"]).stem for r in records["valid"]] == stems["val"]
    assert sorted(Path(r["image_url"]).stem for r in records["train"]) == sorted(stems["train"])
    assert any("train.txt and val.txt" in w for w in summary.warnings)


def test_voc_folder_without_xml_says_where_it_looked(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .xml files here nor in an Annotations/"):
        read_source("voc", tmp_path / "empty")


def test_malformed_coco_entries_are_data_errors_naming_them(tmp_path):
    base = {"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}]}
    cases = [
        ({**base, "images": [{"id": 1}]}, "images[0]: missing key 'file_name'"),
        ({**base, "categories": [{"id": 1}]}, "categories[0]: missing key 'name'"),
        ({**base, "annotations": [{"id": 9}]}, "annotations[0]: missing key 'image_id'"),
        (
            {
                **base,
                "categories": [{"id": 1, "name": "a"}],
                "annotations": [{"id": 9, "image_id": 1, "category_id": 1, "bbox": "x"}],
            },
            "annotation id 9: malformed entry",
        ),
        ({**base, "annotations": {"not": "a list"}}, "'annotations' is dict, not a list"),
    ]
    for document, expected in cases:
        (tmp_path / "coco.json").write_text(json.dumps(document))
        with pytest.raises(DataError, match=re.escape(expected)):
            read_source("coco", tmp_path / "coco.json")
    (tmp_path / "coco.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(DataError, match="nested too deeply"):
        read_source("coco", tmp_path / "coco.json")


def test_coco_rle_larger_than_the_pixel_limit_is_refused_before_decoding(tmp_path):
    huge = [100000, 100000]  # 10^10 pixels: 10 GB as a mask
    document = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100000, "height": 100000}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": huge, "counts": [10**10]},
            }
        ],
    }
    (tmp_path / "coco.json").write_text(json.dumps(document))
    with pytest.raises(LimitError, match="AUTOML_MAX_IMAGE_PIXELS"):
        read_source("coco", tmp_path / "coco.json", IS)


def test_converter_inputs_over_their_bounds_are_refused(tmp_path, monkeypatch):
    sources = _tiny_sources(tmp_path)
    monkeypatch.setenv("AUTOML_MAX_MANIFEST_BYTES", "10")
    for fmt in ("coco", "voc", "yolo", "csv"):
        source, task, options = sources[fmt]
        with pytest.raises(LimitError, match="AUTOML_MAX_MANIFEST_BYTES"):
            read_source(fmt, source, task, options)
    monkeypatch.delenv("AUTOML_MAX_MANIFEST_BYTES")
    monkeypatch.setenv("AUTOML_MAX_MANIFEST_LINES", "5")
    for fmt in ("coco", "voc", "yolo", "folder", "csv"):
        source, task, options = sources[fmt]
        with pytest.raises(LimitError, match="AUTOML_MAX_MANIFEST_LINES"):
            read_source(fmt, source, task, options)


def test_yolo_names_that_are_not_plain_names_are_refused(tmp_path):
    names = tmp_path / "names.yaml"
    # an alias bomb: str() of the last list would expand 9^9 items
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    names.write_text("\n".join(lines) + "\nnames: [*a8]\n")
    with pytest.raises(DataError, match="plain names"):
        read_names(names)


def test_csv_with_a_field_over_the_csv_limit_is_a_data_error(tmp_path):
    (tmp_path / "tags.csv").write_text('filename,labels\na.jpg,"' + "x" * 200000 + '"\n')
    with pytest.raises(DataError, match="tags.csv:2: not a readable CSV line"):
        read_source("csv", tmp_path / "tags.csv")


def test_image_size_of_a_bomb_or_a_fifo_is_unknown_not_an_error(tmp_path):
    import os
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    bomb = tmp_path / "bomb.png"
    ihdr = struct.pack(">IIBBBBB", 15000, 15000, 8, 2, 0, 0, 0)
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    os.mkfifo(tmp_path / "pipe.jpg")
    assert image_size(bomb) is None
    assert image_size(tmp_path / "pipe.jpg") is None  # returns at once instead of blocking
