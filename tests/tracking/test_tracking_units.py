"""Tracking without training: the store a job logs to, the spec's optional tracking field,
a missing mlflow (one warning naming the extra), and a failing store (one warning)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from automl.engine.tracking import INSTALL_HINT, open_job_tracker, resolve_tracking_uri
from automl.engine.tracking._records import epoch_metrics, param_values
from automl.engine.tracking._settings import TrackingGuard
from automl.engine.trials import TrackingRef, TrialData, TrialSpec


def test_tracking_is_off_unless_asked(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert resolve_tracking_uri(None) == "http://mlflow:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"  # the flag wins


def test_local_means_sqlite_under_automl_home(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOML_HOME", str(tmp_path))
    assert resolve_tracking_uri("local") == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_sqlite_artifacts_live_beside_the_database(tmp_path):
    from automl.engine.tracking._settings import artifact_location

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    assert artifact_location(uri, "exp") == str(tmp_path.resolve() / "mlartifacts" / "exp")
    assert artifact_location("http://mlflow:5000", "exp") is None  # the server's default


def spec(**extra) -> TrialSpec:
    manifest = Path("/d/train.jsonl")
    data = TrialData(manifest, manifest, ("a", "b"))
    return TrialSpec("image_classification", manifest.parent, "accuracy", {"lr": 1}, data, **extra)


def test_spec_tracking_round_trips_and_older_specs_read():
    ref = TrackingRef("sqlite:///m.db", "1", "abc")
    read = TrialSpec.from_json(spec(tracking=ref).to_json())
    assert read.tracking == ref
    older = json.loads(spec().to_json())
    assert "tracking" not in older  # untracked: the shape older releases wrote and read
    assert TrialSpec.from_dict(older).tracking is None


def test_spec_tracking_of_another_version_is_refused():
    from automl.engine.errors import TrialError

    data = json.loads(spec(tracking=TrackingRef("u", "1", "r")).to_json())
    data["tracking"]["version"] = 99
    with pytest.raises(TrialError, match="tracking reference version 99"):
        TrialSpec.from_dict(data)


def test_missing_mlflow_turns_tracking_off_with_one_line(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with caplog.at_level(logging.WARNING, logger="automl.tracking"):
        assert open_job_tracker("sqlite:///x.db") is None
    assert len(caplog.records) == 1 and INSTALL_HINT in caplog.text


def test_a_failing_store_warns_once_and_stops(caplog):
    guard, calls = TrackingGuard("trial"), []

    def failing():
        calls.append(1)
        raise ConnectionError("refused\nmore")

    with caplog.at_level(logging.WARNING, logger="automl.tracking"):
        assert guard.call(failing) is None
        assert guard.call(failing) is None
    assert len(calls) == 1 and len(caplog.records) == 1
    assert "ConnectionError: refused" in caplog.text and "training goes on" in caplog.text


def test_epoch_record_as_flat_metrics():
    valid = {"accuracy": 0.9, "per_label": [1, 2], "x": float("nan"), "ok": True}
    record = {"epoch": 3, "lr": 0.1, "train": {"loss": 0.5, "seconds": 2}, "valid": valid}
    assert epoch_metrics(record) == {
        "lr": 0.1,
        "train/loss": 0.5,
        "train/seconds": 2.0,
        "valid/accuracy": 0.9,
    }
    assert param_values({"a": None, "b": "x" * 600, "c": 1}) == {"b": "x" * 500, "c": "1"}
