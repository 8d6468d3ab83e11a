"""Each training epoch's throughput: in the TrainingState, metrics.jsonl and the trial log
(what bench/gpu_train.py compares against a plain loop)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
import torch

from automl.engine.models import get_model_spec
from automl.engine.training._classification import build_training_state
from automl.engine.training.loop import Device, build_dataloaders, train_one_epoch
from automl.engine.training.settings import TrainingSettings
from automl.engine.training.trainers import TrialInputs
from automl.engine.utils.files import read_jsonl


def test_train_one_epoch_records_images_per_second(tiny_flowers, spec_writer, tmp_path):
    torch.set_num_threads(1)
    spec = json.loads(spec_writer(tmp_path, tiny_flowers).read_text())
    settings = TrainingSettings.from_parameters(spec["training_parameters"])
    device = Device.from_name("cpu")
    trial = TrialInputs.from_spec(spec)
    data = build_dataloaders(trial, settings, get_model_spec(settings.model_name), device)
    state = build_training_state(trial, settings, data, device, lambda: False)
    assert state.epoch_speed == {}
    train_one_epoch(state, data.train_loader, lambda *a: None)
    speed = state.epoch_speed
    assert speed["seconds"] > 0
    n_images = len(data.train_loader.dataset)
    assert speed["images_per_s"] == pytest.approx(n_images / speed["seconds"], rel=0.01)


def test_trial_writes_epoch_speed_to_metrics_and_log(classification_run):
    """Read from the 2-epoch trial of the session's trained model (tests/_support/trained.py:
    `automl job create` ran the trial runner in its own process)."""
    trial = classification_run / "trials" / "0"
    lines = read_jsonl(trial / "metrics.jsonl")
    assert len(lines) == 2
    for line in lines:
        assert line["train"]["seconds"] > 0 and line["train"]["images_per_s"] > 0
    logged = re.findall(r"epoch (\d)/2: .*, ([0-9.]+) images/s", (trial / "trial.log").read_text())
    assert [(int(e), float(v)) for e, v in logged] == [
        (line["epoch"], line["train"]["images_per_s"]) for line in lines
    ]
    # bench/gpu_train.py reads the same log and metrics for its comparison
    epochs = load_gpu_train_bench().trial_epochs(trial)
    assert [(e["epoch"], e["images_per_s"]) for e in epochs] == [
        (line["epoch"], line["train"]["images_per_s"]) for line in lines
    ]
    assert epochs[0]["end_wall"] <= epochs[1]["end_wall"]


def load_gpu_train_bench():
    path = Path(__file__).resolve().parents[2] / "bench" / "gpu_train.py"
    spec = importlib.util.spec_from_file_location("gpu_train", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_train"] = module
    spec.loader.exec_module(module)
    return module
