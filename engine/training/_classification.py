"""The classification trainer (both classification tasks) for the trial runner."""

from __future__ import annotations

import math

import torch

from automl.engine.metrics import classification_metrics, classification_report, confusion_matrix
from automl.engine.models import get_model_spec
from automl.engine.training.distributed import wrap_model
from automl.engine.training.loop import (
    MULTILABEL_TASK,
    Device,
    TrainingState,
    TrialData,
    build_dataloaders,
    build_trial_model,
    evaluate,
    out_of_memory_error,
    train_one_epoch,
)
from automl.engine.training.losses import build_loss
from automl.engine.training.optim import build_optimizer, build_scheduler
from automl.engine.training.settings import TrainingSettings
from automl.engine.training.trainers import Evaluation


def build_training_state(
    spec: dict, settings: TrainingSettings, data: TrialData, device: Device, cancel
) -> TrainingState:
    model_spec = get_model_spec(settings.model_name)
    multilabel = spec["task"] == MULTILABEL_TASK
    model = build_trial_model(spec, settings, model_spec, device)
    loss_fn = build_loss(data.train_records, data.labels, multilabel, settings.weighted_loss)
    optimizer = build_optimizer(model, settings)
    return TrainingState(
        model=model,
        loss_fn=loss_fn.to(device.torch_device),
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, settings, len(data.train_loader)),
        scaler=torch.amp.GradScaler("cuda", enabled=device.amp_dtype == torch.float16),
        device=device,
        settings=settings,
        grad_clip=model_spec.grad_clip,
        multilabel=multilabel,
        canceled=cancel,
    )


def clean_floats(metrics: dict) -> dict:
    """NaN (undefined metrics) becomes null, so every file stays strict JSON."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


class ClassificationTrainer:
    """image_classification and image_classification_multilabel."""

    tasks = ("image_classification", MULTILABEL_TASK)
    settings_class = TrainingSettings

    def build(self, spec: dict, settings, device: Device, cancel):
        data = build_dataloaders(spec, settings, get_model_spec(settings.model_name), device)
        state = build_training_state(spec, settings, data, device, cancel)
        state.ddp_model = wrap_model(state.model, device)  # None unless distributed
        return data, state

    def train_one_epoch(self, state: TrainingState, data: TrialData, on_step) -> float:
        return train_one_epoch(state, data.train_loader, on_step)

    def evaluate(self, spec: dict, state: TrainingState, data: TrialData) -> Evaluation:
        try:
            loss, targets, probs = evaluate(state, data.valid_loader)
        except torch.OutOfMemoryError as exc:
            raise out_of_memory_error(state.settings, "validation_batch_size") from exc
        metrics = classification_metrics(spec["task"], targets, probs, loss=loss)
        primary = spec["primary_metric"]["name"]
        from automl.engine.metrics import primary_metric_key

        score = metrics.get(primary_metric_key(primary), float("nan"))
        multilabel = spec["task"] == MULTILABEL_TASK

        def details(epoch: int) -> dict:
            report = classification_report(targets, probs, data.labels, multilabel=multilabel)
            result = {
                "epoch": epoch,
                "labels": data.labels,
                "classification_report": [clean_floats(row) for row in report],
            }
            if not multilabel:
                cm = confusion_matrix(targets, probs.argmax(axis=1), len(data.labels))
                result["confusion_matrix"] = cm.tolist()
            return result

        return Evaluation(clean_floats(metrics), score, details)

    def write_plots(self, records: list[dict], details: dict, plots, primary_key: str) -> None:
        from automl.engine.metrics.plots import plot_confusion_matrix, plot_metric_curves

        plot_metric_curves(records, plots, primary_key)
        if "confusion_matrix" in details:
            plot_confusion_matrix(
                details["confusion_matrix"], details["labels"], plots / "confusion_matrix.png"
            )
