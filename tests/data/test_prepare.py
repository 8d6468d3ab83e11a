import json
from pathlib import Path

import pytest

from automl.engine.data import check_job_data, load_prepared_data, prepare_job_data
from automl.engine.data.manifest import read_manifest
from automl.engine.errors import DataError

from .conftest import classification_rows, write_table

MC = "image_classification"


def _job(train, valid=None, seed=None, size=None):
    job = {
        "task": MC,
        "target_column_name": "label",
        "training_data": {"path": str(train)},
        "training_parameters": {"random_seed": seed},
    }
    if valid is not None:
        job["validation_data"] = {"path": str(valid)}
    if size is not None:
        job["validation_data_size"] = size
    return job


def test_prepare_splits_writes_manifests_and_split_json(tmp_path, multiclass_table):
    prepared = prepare_job_data(_job(multiclass_table), tmp_path / "run")
    assert (prepared.n_train, prepared.n_valid) == (10, 2) and prepared.labels == ["a", "b"]
    train = read_manifest(prepared.train_manifest)
    assert set(train[0]) == {"image_url", "label", "image_details", "source"}
    split = json.loads((tmp_path / "run" / "data" / "split.json").read_text())
    assert split["seed"] == 0 and split["seed_source"] == "default"
    assert split["method"] == "stratified" and len(split["valid"]) == 2
    assert split["sources"]["training_data"] == str(multiclass_table)
    again = prepare_job_data(_job(multiclass_table), tmp_path / "run2")
    assert read_manifest(again.valid_manifest) == read_manifest(prepared.valid_manifest)


def test_random_seed_and_size_are_used(tmp_path, multiclass_table):
    prepared = prepare_job_data(_job(multiclass_table, seed=7, size=0.5), tmp_path / "run")
    split = json.loads((tmp_path / "run" / "data" / "split.json").read_text())
    assert split["seed"] == 7 and prepared.n_valid == 6


def test_given_validation_data_is_used_as_is(tmp_path, multiclass_table):
    valid = tmp_path / "valid"
    write_table(valid, classification_rows(valid, ["a", "b", "b"], start=100))
    prepared = prepare_job_data(_job(multiclass_table, valid), tmp_path / "run")
    assert (prepared.n_train, prepared.n_valid) == (12, 3)


def test_problems_raise_one_data_error_listing_all(tmp_path):
    folder = tmp_path / "bad"
    rows = classification_rows(folder, ["a"] * 3) + [
        "{oops",
        {"image_url": "gone.jpg", "label": "a"},
    ]
    write_table(folder, rows)
    with pytest.raises(DataError) as caught:
        prepare_job_data(_job(folder), tmp_path / "run")
    problems = caught.value.problems
    assert len(problems) == 3  # malformed line, missing image, fewer than 10 images
    assert "annotations.jsonl:4" in problems[0] and "annotations.jsonl:5" in problems[1]
    assert not (tmp_path / "run" / "data").exists()


def test_check_job_data_writes_nothing_and_reports_missing_paths(tmp_path, multiclass_table):
    report = check_job_data(_job(multiclass_table))
    assert report.ok and report.summary["train"]["images"] == 10
    missing = check_job_data(_job(tmp_path / "nowhere"))
    assert "no such file or folder" in missing.problems[0]


def test_leaked_validation_images_are_left_out_and_recorded(tmp_path, multiclass_table):
    valid = tmp_path / "valid"
    rows = classification_rows(valid, ["a", "b", "a"], start=0)  # same pixels as img0-2
    write_table(valid, rows + classification_rows(valid, ["a", "b"], start=60))
    prepared = prepare_job_data(_job(multiclass_table, valid), tmp_path / "run")
    assert (prepared.n_train, prepared.n_valid) == (12, 2)
    assert prepared.leaked_validation_images == 3
    assert [Path(r["image_url"]).name for r in read_manifest(prepared.valid_manifest)] == [
        "img60.jpg",
        "img61.jpg",
    ]
    split = json.loads((tmp_path / "run" / "data" / "split.json").read_text())
    assert split["leaked_validation_images"] == 3 and split["n_valid"] == 2
    assert [entry["source"].rsplit("/", 1)[-1] for entry in split["leaked_validation"]] == [
        "annotations.jsonl:1",
        "annotations.jsonl:2",
        "annotations.jsonl:3",
    ]
    assert load_prepared_data(tmp_path / "run").leaked_validation_images == 3


def test_missing_data_paths_are_one_problem_each_naming_file_and_key(tmp_path):
    job = _job(tmp_path / "no_train", tmp_path / "no_valid")
    report = check_job_data(job, job_file="nightly.yml")
    assert len(report.problems) == 2
    train, valid = report.problems
    assert train.startswith("nightly.yml: training_data.path: ") and "no_train" in train
    assert valid.startswith("nightly.yml: validation_data.path: ") and "no_valid" in valid
    assert all("no such file or folder" in p for p in report.problems)
    with pytest.raises(DataError) as caught:
        prepare_job_data(job, tmp_path / "run", job_file="nightly.yml")
    assert caught.value.problems == report.problems
    assert not (tmp_path / "run" / "data").exists()
