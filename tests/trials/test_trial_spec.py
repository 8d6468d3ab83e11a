"""spec.json as a TrialSpec: round trip, version, and the specs run directories hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automl.engine.errors import TrialError
from automl.engine.trials import StudyRef, TrialData, TrialSpec

# A spec as the controller wrote it before TrialSpec existed (same shape, version 1).
WRITTEN_BEFORE = {
    "version": 1,
    "job_name": "flowers",
    "run_dir": "/runs/flowers",
    "trial_number": 3,
    "trial_dir": "/runs/flowers/trials/3",
    "task": "image_classification",
    "primary_metric": {"name": "accuracy", "goal": "maximize"},
    "log_verbosity": "info",
    "training_parameters": {"model_name": "resnet18", "learning_rate": 0.01},
    "params": {"learning_rate": 0.01},
    "data": {
        "train_manifest": "/runs/flowers/data/train.jsonl",
        "valid_manifest": "/runs/flowers/data/valid.jsonl",
        "labels": ["daisy", "rose"],
    },
    "device": "cpu",
    "n_threads": 2,
    "resume": False,
    "study": {
        "storage": "/runs/flowers/study.journal",
        "study_name": "flowers",
        "trial_id": 4,
        "pruner": None,
    },
}


def a_spec(**changes) -> TrialSpec:
    fields = {
        "task": "image_classification",
        "trial_dir": Path("/runs/x/trials/0"),
        "primary_metric": "accuracy",
        "training_parameters": {"model_name": "test_tiny_cnn", "number_of_epochs": 2},
        "data": TrialData(Path("/d/train.jsonl"), Path("/d/valid.jsonl"), ("a", "b")),
        "study": StudyRef("/runs/x/study.journal", "x", 7, {"class": "optuna.pruners.X"}),
        **changes,
    }
    return TrialSpec(**fields)


def test_round_trip_through_json_and_a_file(tmp_path):
    spec = a_spec(params={"learning_rate": 0.1}, resume=True, run_dir=Path("/runs/x"))
    assert TrialSpec.from_json(spec.to_json()) == spec
    spec.write(tmp_path / "spec.json")
    assert TrialSpec.read(tmp_path / "spec.json") == spec


def test_the_json_carries_its_version_and_the_shape_every_release_wrote():
    data = a_spec().to_dict()
    assert data["version"] == 1
    assert list(data) == list(WRITTEN_BEFORE)
    assert data["primary_metric"] == {"name": "accuracy", "goal": "maximize"}
    assert data["data"]["labels"] == ["a", "b"] and data["study"]["trial_id"] == 7


def test_a_spec_written_before_reads_with_typed_fields(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(WRITTEN_BEFORE))
    spec = TrialSpec.read(path)
    assert spec.trial_dir == Path("/runs/flowers/trials/3") and spec.primary_metric == "accuracy"
    assert spec.data.labels == ("daisy", "rose") and spec.n_threads == 2
    assert spec.study == StudyRef("/runs/flowers/study.journal", "flowers", 4, None)
    assert spec.model_name == "resnet18"
    assert spec.to_dict() == WRITTEN_BEFORE


def test_a_minimal_spec_takes_the_defaults():
    required = ("task", "trial_dir", "primary_metric", "training_parameters", "data", "device")
    spec = TrialSpec.from_dict({"version": 1, **{key: WRITTEN_BEFORE[key] for key in required}})
    assert spec.study is None and spec.params == {} and spec.resume is False
    assert spec.n_threads == 1 and spec.run_dir is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": None}, "trial spec version None; this automl reads version 1"),
        ({"version": 2}, "trial spec version 2; this automl reads version 1"),
        ({"task": None}, "lacks task"),
        ({"data": {"labels": []}}, "lacks train_manifest, valid_manifest"),
    ],
)
def test_an_unreadable_spec_fails_with_a_clear_message(tmp_path, change, message):
    data = {**WRITTEN_BEFORE, **change}
    data = {key: value for key, value in data.items() if value is not None}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TrialError) as caught:
        TrialSpec.read(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert caught.value.hint


def test_a_file_that_is_not_json_is_a_trial_error(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text("{half")
    with pytest.raises(TrialError, match="not valid JSON"):
        TrialSpec.read(path)
