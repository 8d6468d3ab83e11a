"""The trial's augmentation_* parameters reach the training transform it builds."""

from __future__ import annotations

import json

from automl.engine.models import get_model_spec
from automl.engine.training.loop import Device, build_dataloaders
from automl.engine.training.settings import TrainingSettings
from automl.engine.training.trainers import TrialInputs


def _train_transform(tiny_flowers, spec_writer, tmp_path, **overrides):
    spec = json.loads(spec_writer(tmp_path, tiny_flowers, params=overrides).read_text())
    settings = TrainingSettings.from_parameters(spec["training_parameters"])
    trial = TrialInputs.from_spec(spec)
    model = get_model_spec(settings.model_name)
    data = build_dataloaders(trial, settings, model, Device.from_name("cpu"))
    return data.train_loader.dataset.transform


def test_trial_parameters_shape_the_training_transform(tiny_flowers, spec_writer, tmp_path):
    transform = _train_transform(
        tiny_flowers,
        spec_writer,
        tmp_path,
        augmentation_min_crop_area=0.5,
        augmentation_color_jitter=0.1,
        augmentation_hflip=False,
    )
    assert transform.crop.scale == (0.5, 1.0)
    assert transform.jitter.ranges[3] == (-0.1, 0.1)
    assert transform.p_flip == 0.0


def test_a_spec_without_the_keys_trains_with_azures_transform(tiny_flowers, spec_writer, tmp_path):
    transform = _train_transform(tiny_flowers, spec_writer, tmp_path)
    assert transform.crop.scale == (0.08, 1.0) and transform.p_flip == 0.5
    assert transform.jitter.ranges[0] == (0.6, 1.4)
