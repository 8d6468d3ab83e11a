"""A YOLO trial with spec["resume"] continues from Ultralytics' last.pt and our own records
of its epochs (early stopping, metrics.jsonl), not from epoch 1."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_yolo_tiles import yolo_trial_spec

from automl.engine.training.loop import CanceledByUser
from automl.engine.trials import TrialSpec


@pytest.fixture(autouse=True)
def _ultralytics_state(tmp_path, monkeypatch):
    """Ultralytics' settings file (and its weights and runs dirs) under tmp_path."""
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics_config"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")


def metrics_lines(trial_dir: Path) -> list[dict]:
    text = (trial_dir / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line]


def test_canceled_yolo_trial_resumes_at_next_epoch(tmp_path, caplog):
    from automl.engine.training.trial import run_trial

    torch.set_num_threads(1)
    spec = TrialSpec.from_dict(yolo_trial_spec(tmp_path, number_of_epochs=2))
    trial_dir = spec.trial_dir

    def cancel_in_second_epoch() -> bool:
        path = trial_dir / "metrics.jsonl"
        return path.is_file() and bool(path.read_text().strip())

    with pytest.raises(CanceledByUser):
        run_trial(spec, cancel_in_second_epoch)
    (first,) = metrics_lines(trial_dir)
    assert (trial_dir / "checkpoints" / "ultralytics" / "weights" / "last.pt").is_file()

    caplog.set_level(logging.INFO, logger="automl.training")
    result = run_trial(replace(spec, resume=True))
    assert "continuing at epoch 2" in caplog.text
    assert result.state == "complete" and result.epochs_completed == 2
    lines = metrics_lines(trial_dir)
    assert [line["epoch"] for line in lines] == [1, 2]
    assert lines[0] == first  # epoch 1 was not trained again
    assert lines[1]["elapsed_s"] > first["elapsed_s"]  # the clock continues too


def test_resume_without_checkpoint_starts_at_epoch_1(tmp_path, caplog):
    from automl.engine.training.trial import run_trial

    torch.set_num_threads(1)
    spec = TrialSpec.from_dict(yolo_trial_spec(tmp_path))
    caplog.set_level(logging.INFO, logger="automl.training")
    result = run_trial(replace(spec, resume=True))
    assert "starting at epoch 1" in caplog.text
    assert result.epochs_completed == 1
    assert [line["epoch"] for line in metrics_lines(spec.trial_dir)] == [1]


def test_resume_of_a_finished_trial_trains_nothing(tmp_path, caplog):
    from automl.engine.training.trial import run_trial

    torch.set_num_threads(1)
    spec = TrialSpec.from_dict(yolo_trial_spec(tmp_path))
    first = run_trial(spec)
    caplog.set_level(logging.INFO, logger="automl.training")
    again = run_trial(replace(spec, resume=True))
    assert "nothing left to run" in caplog.text
    assert again.epochs_completed == 1 and again.score == first.score
