"""The classification trainer (both classification tasks, torch runtime): our loop."""

from __future__ import annotations

import math

import torch

from automl.engine.metrics import classification_report, confusion_matrix, primary_metric_key
from automl.engine.metrics.classification import one_hot
from automl.engine.metrics.curves import classification_curves
from automl.engine.models import get_model_spec
from automl.engine.training.distributed import wrap_model
from automl.engine.training.loop import (
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
from automl.engine.training.trainers import EpochTrainer, Evaluation, TrialInputs


def build_training_state(
    trial: TrialInputs, settings: TrainingSettings, data: TrialData, device: Device, cancel
) -> TrainingState:
    model_spec = get_model_spec(settings.model_name)
    multilabel = trial.task.multilabel
    model = build_trial_model(trial, settings, model_spec, device)
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


class ClassificationTrainer(EpochTrainer):
    """image_classification and image_classification_multilabel (the task descriptor says
    which: softmax or sigmoid, the loss, the metrics)."""

    settings_class = TrainingSettings

    def build(self, trial: TrialInputs, settings, device: Device, cancel):
        self.trial = trial
        data = build_dataloaders(trial, settings, get_model_spec(settings.model_name), device)
        state = build_training_state(trial, settings, data, device, cancel)
        state.ddp_model = wrap_model(state.model, device)  # None unless distributed
        return data, state

    def train_one_epoch(self, state: TrainingState, data: TrialData, on_step) -> float:
        return train_one_epoch(state, data.train_loader, on_step)

    def evaluate(self, state: TrainingState, data: TrialData) -> Evaluation:
        try:
            loss, targets, probs = evaluate(state, data.valid_loader)
        except torch.OutOfMemoryError as exc:
            raise out_of_memory_error(state.settings, "validation_batch_size") from exc
        task = self.trial.task
        metrics = task.evaluator(task.name, targets, probs, loss=loss)
        score = metrics.get(primary_metric_key(self.trial.primary_metric), float("nan"))

        def details(epoch: int) -> dict:
            report = classification_report(targets, probs, data.labels, multilabel=task.multilabel)
            result = {
                "epoch": epoch,
                "labels": data.labels,
                "classification_report": [clean_floats(row) for row in report],
            }
            if not task.multilabel:
                cm = confusion_matrix(targets, probs.argmax(axis=1), len(data.labels))
                result["confusion_matrix"] = cm.tolist()
            truth = targets if task.multilabel else one_hot(targets, len(data.labels))
            result["curves"] = classification_curves(truth, probs, data.labels)  # ROC, PR
            return result

        return Evaluation(clean_floats(metrics), score, details)
