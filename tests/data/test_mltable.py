import json

import pytest

from automl.engine.data import read_dataset
from automl.engine.errors import DataError

from .conftest import classification_rows, write_image, write_table

MC = "image_classification"


def test_folder_mltable_and_jsonl_read_the_same(multiclass_table):
    by_folder, report = read_dataset(multiclass_table, MC)
    by_file, _ = read_dataset(multiclass_table / "MLTable", MC)
    by_jsonl, _ = read_dataset(multiclass_table / "annotations.jsonl", MC)
    assert report.ok and len(by_folder) == 12
    assert by_folder == by_file == by_jsonl
    first = by_folder[0]
    assert first["image_url"] == str(multiclass_table / "images" / "img0.jpg")
    assert first["image_details"] == {"width": 48, "height": 32}
    assert first["source"].endswith("annotations.jsonl:1")


def test_paths_pattern_and_folder(tmp_path):
    for part in ("p1", "p2"):
        folder = tmp_path / "parts"
        rows = classification_rows(folder, ["a"] * 5, start=0 if part == "p1" else 5)
        (folder / f"{part}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "parts" / "MLTable").write_text("paths:\n  - pattern: ./*.jsonl\n")
    records, _ = read_dataset(tmp_path / "parts", MC)
    assert len(records) == 10
    (tmp_path / "parts" / "MLTable").write_text("paths:\n  - folder: .\n")
    assert len(read_dataset(tmp_path / "parts", MC)[0]) == 10


def test_encoding_latin1(tmp_path):
    folder = tmp_path / "latin"
    write_table(folder, classification_rows(folder, ["café"] * 10), encoding="latin1")
    records, report = read_dataset(folder, MC)
    assert report.ok and records[0]["label"] == "café"


def test_invalid_lines_error_lists_each_line_and_drop_counts(tmp_path):
    folder = tmp_path / "bad"
    rows = classification_rows(folder, ["a"] * 10) + ["{not json", '{"image_url": "x.jpg"}']
    write_table(folder, rows)
    records, report = read_dataset(folder, MC)
    assert len(records) == 10 and len(report.problems) == 2
    assert "annotations.jsonl:11: malformed JSON" in report.problems[0]
    assert "annotations.jsonl:12: missing label column 'label'" in report.problems[1]
    write_table(folder, rows, invalid_lines="drop")
    records, report = read_dataset(folder, MC)
    assert report.ok and len(records) == 10
    assert report.summary["n_dropped"] == 2 and "dropped 2 invalid lines" in report.warnings[0]


def test_image_url_absolute_file_uri_and_unknown_scheme(tmp_path):
    image = write_image(tmp_path / "abs.jpg")
    folder = tmp_path / "uris"
    rows = [
        {"image_url": str(image), "label": "a"},
        {"image_url": image.as_uri(), "label": "a"},
        {"image_url": "nosuchscheme://bucket/x.jpg", "label": "a"},
    ]
    write_table(folder, rows)
    records, report = read_dataset(folder, MC)
    assert [r["image_url"] for r in records] == [str(image), str(image)]
    assert "annotations.jsonl:3" in report.problems[0] and "nosuchscheme" in report.problems[0]


def test_target_column_name_and_include_path_column(tmp_path):
    folder = tmp_path / "col"
    rows = [{**r, "species": r.pop("label")} for r in classification_rows(folder, ["a"] * 10)]
    write_table(folder, rows, include_path=True)
    records, report = read_dataset(folder, MC, target_column_name="species")
    assert report.ok and records[0]["label"] == "a"
    assert records[0]["Path"].endswith("annotations.jsonl")


def test_take_and_skip(multiclass_table):
    text = (multiclass_table / "MLTable").read_text()
    (multiclass_table / "MLTable").write_text(text + "  - skip: 2\n  - take: 3\n")
    records, _ = read_dataset(multiclass_table, MC)
    assert [r["source"][-1] for r in records] == ["3", "4", "5"]


def test_folder_without_mltable_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no 'MLTable'"):
        read_dataset(tmp_path, MC)
