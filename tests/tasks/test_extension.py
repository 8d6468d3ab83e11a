"""A new task and a new model family with its own loop plug in through the public
registration API alone: a trial trains through them, its package loads and predicts.

The dummy task counts bright pixels ("counting" kind); the dummy family ("toy" runtime) is
a one-weight model with a trivial trainer and predictor. Nothing in the dispatch code
(trial runner, trainer and predictor lookups, packages) knows either.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from automl.engine.models import (
    FAMILIES,
    MODELS,
    ModelFamily,
    ModelSpec,
    register_family,
    register_model,
)
from automl.engine.predict import PREDICTORS, Predictor, TaskPredictor, register_predictor
from automl.engine.tasks import TASKS, Preprocessing, TaskDescriptor, get_task, register_task
from automl.engine.training.settings import CommonTrainingSettings
from automl.engine.training.trainers import (
    TRAINERS,
    Evaluation,
    Trainer,
    register_trainer,
    trainer_for,
)
from automl.engine.trials import COMPLETE, TrialSpec

TASK, KIND, RUNTIME, MODEL = "image_bright_pixel_count", "counting", "toy", "toy_counter"


class Counter(nn.Module):
    """count = scale * (number of pixels brighter than mid-grey)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.scale * (pixels.mean(dim=0) > 0.5).sum(dim=(-2, -1)).float()


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def write_plots(records: list[dict], details: dict, plots: Path, primary_key: str) -> None:
    plots.mkdir(parents=True, exist_ok=True)
    (plots / "epochs.txt").write_text(" ".join(str(r["epoch"]) for r in records))


class ToyTrainer(Trainer):
    """Its own loop: one 'epoch' per number_of_epochs, reported through the hooks."""

    settings_class = CommonTrainingSettings

    def fit(self, trial, settings, hooks, device, cancel) -> str:
        from automl.engine.models import build_detection_model

        model = build_detection_model(MODEL, len(trial.labels), pretrained=False, settings={})
        for epoch in range(1, settings.number_of_epochs + 1):
            hooks.begin_epoch()
            hooks.on_step(epoch, 1, 1, lambda: 0.0)
            score = 0.5 + epoch / 10
            evaluation = Evaluation({"accuracy": score}, score, lambda e: {"epoch": e})
            hooks.record_evaluation(epoch, evaluation, model, trial.labels, 0.0, 0.1)
            hooks.finish_epoch(epoch, model, trial.labels)
            hooks.log_epoch(epoch, 0.0, evaluation.score)
        return "complete"


class ToyPredictor(TaskPredictor):
    def preprocess(self, images):
        return [to_tensor(image).float() / 255 for image in images]

    def predict_batch(self, images):
        with torch.no_grad():
            return [{"count": float(self.model(t))} for t in self.preprocess(images)]


@pytest.fixture
def plugged_in():
    """Register the dummy task, family, model, trainer and predictor; unregister after."""
    registries = (TASKS, FAMILIES, MODELS, TRAINERS, PREDICTORS)
    saved = [dict(registry._entries) for registry in registries]
    register_task(
        TaskDescriptor(
            name=TASK,
            short_name="count",
            kind=KIND,
            default_metric="accuracy",
            preprocessing=Preprocessing(train=to_tensor, valid=to_tensor),
            evaluator=lambda *args, **kwargs: {},
            plots=write_plots,
        )
    )
    register_family(
        ModelFamily(
            "toy_family",
            RUNTIME,
            build=lambda spec, n_labels, pretrained, settings: spec.builder(),
            package_settings=lambda task, name, labels, params: {
                "task": task,
                "model_name": name,
                "n_classes": len(labels),
            },
        )
    )
    register_model(
        ModelSpec(
            name=MODEL,
            tasks=(TASK,),
            family="toy_family",
            runtime=RUNTIME,
            source="builtin",
            builder=Counter,
            layer_groups=(),
        )
    )
    register_trainer(KIND, RUNTIME, ToyTrainer)
    register_predictor(KIND, RUNTIME, ToyPredictor)
    yield
    for registry, entries in zip(registries, saved, strict=True):
        registry._entries.clear()
        registry._entries.update(entries)


def toy_spec(tmp_path: Path) -> dict:
    params = {
        "model_name": MODEL,
        "number_of_epochs": 2,
        "training_batch_size": 1,
        "validation_batch_size": 1,
        "learning_rate": 0.01,
        "learning_rate_scheduler": "none",
        "warmup_cosine_lr_cycles": 0.45,
        "warmup_cosine_lr_warmup_epochs": 0,
        "step_lr_gamma": 0.5,
        "step_lr_step_size": 5,
        "optimizer": "sgd",
        "momentum": 0.9,
        "weight_decay": 0.0,
        "nesterov": False,
        "beta1": 0.9,
        "beta2": 0.999,
        "ams_gradient": False,
        "gradient_accumulation_step": 1,
        "early_stopping": False,
        "early_stopping_patience": 5,
        "early_stopping_delay": 5,
        "evaluation_frequency": 1,
        "number_of_workers": 0,
        "pretrained": False,
        "checkpoint_frequency": 2,
    }
    return {
        "version": 1,
        "trial_dir": str(tmp_path / "trials" / "0"),
        "task": TASK,
        "primary_metric": {"name": "accuracy", "goal": "maximize"},
        "training_parameters": params,
        "data": {
            "labels": ["pixels"],
            "train_manifest": str(tmp_path / "train.jsonl"),
            "valid_manifest": str(tmp_path / "valid.jsonl"),
        },
        "device": "cpu",
        "n_threads": 1,
        "resume": False,
        "study": None,
    }


def test_a_registered_task_and_family_train_and_predict(plugged_in, tmp_path):
    from automl.engine.training.trial import run_trial

    assert get_task(TASK).kind == KIND
    assert isinstance(trainer_for(TASK, MODEL), ToyTrainer)
    result = run_trial(TrialSpec.from_dict(toy_spec(tmp_path)))
    assert result.state == COMPLETE and result.epochs_completed == 2
    assert result.score == pytest.approx(0.7) and result.best_epoch == 2
    trial_dir = tmp_path / "trials" / "0"
    assert (trial_dir / "plots" / "epochs.txt").read_text() == "1 2"  # the task's plots
    assert (trial_dir / "checkpoints" / "2_model.pt").is_file()  # checkpoint_frequency
    settings = json.loads((trial_dir / "outputs" / "settings.json").read_text())
    assert settings == {"task": TASK, "model_name": MODEL, "n_classes": 1}  # the family's

    predictor = Predictor.from_package(trial_dir / "outputs")
    assert isinstance(predictor.task_predictor, ToyPredictor)
    image = Image.new("RGB", (4, 3), (255, 255, 255))
    assert predictor.predict([image]) == [{"count": 12.0}]


def test_unknown_pairs_are_refused_by_name(plugged_in):
    from automl.engine.errors import RegistryError

    with pytest.raises(RegistryError, match="counting/torch"):
        PREDICTORS.get("counting/torch")
    with pytest.raises(RegistryError, match="did you mean 'detection/torch'"):
        TRAINERS.get("detection/torc")
