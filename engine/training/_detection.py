"""The detection trainer (object detection and instance segmentation, torch runtime).

Split as torchvision's detection reference scripts are: `build_detection_data`,
`build_detection_state`, `detection_batch_loss`, `evaluate_detection`. Batches are
lists of images of different sizes; the models resize (min_size/max_size) and normalise
inside. Validation runs the model in eval mode for detections and, with
`log_validation_loss: Enable` (Azure's default), a second pass in training mode with
BatchNorm frozen for the loss (torchvision detectors give losses only in training mode).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from automl.engine.data.datasets import DetectionDataset, InstanceSegmentationDataset
from automl.engine.data.manifest import read_manifest
from automl.engine.errors import TrialError
from automl.engine.metrics.detection import DetectionEvaluator
from automl.engine.models import (
    build_detection_model,
    family_of,
    freeze_layer_groups,
    get_model_spec,
)
from automl.engine.tasks import TaskDescriptor
from automl.engine.tasks.detection import collate_detection
from automl.engine.tasks.tiling import TiledDetectionDataset, parse_tile_grid, predict_tiled
from automl.engine.training.distributed import distributed_sampler, wrap_model
from automl.engine.training.loop import (
    CanceledByUser,
    Device,
    TrainingState,
    effective_workers,
    load_initial_weights,
    loader_options,
    out_of_memory_error,
    train_one_epoch,
)
from automl.engine.training.optim import build_optimizer, build_scheduler
from automl.engine.training.settings import DetectionTrainingSettings, advanced_setting
from automl.engine.training.trainers import EpochTrainer, Evaluation, TrialInputs

logger = logging.getLogger("automl.training")


@dataclass
class DetectionData:
    labels: list[str]
    train_loader: DataLoader
    valid_loader: DataLoader
    tile_grid: tuple[int, int] | None


def tile_grid_of(tile_grid_size: str | None, task: TaskDescriptor) -> tuple[int, int] | None:
    """The tile grid, or None; a task without tiling refuses one (instance segmentation
    does not tile, docs/azure-compatibility.md §9)."""
    if not tile_grid_size:
        return None
    if not task.tiling:
        from automl.engine.tasks import TASKS

        tiling = ", ".join(name for name in TASKS if TASKS.get(name).tiling)
        raise TrialError(
            f"training_parameters.tile_grid_size={tile_grid_size!r}: tiling is "
            f"supported for {tiling} only, not {task.name}",
            hint="remove tile_grid_size",
        )
    return parse_tile_grid(tile_grid_size)


def object_dataset_class(task: TaskDescriptor) -> type[DetectionDataset]:
    """Boxes, or boxes and instance masks."""
    return InstanceSegmentationDataset if task.masks else DetectionDataset


def build_detection_data(
    trial: TrialInputs, settings: DetectionTrainingSettings, device: Device
) -> DetectionData:
    """Loaders over the manifests; with tiling, training sees images plus their tiles."""
    labels = list(trial.labels)
    dataset_class = object_dataset_class(trial.task)
    augment = bool(advanced_setting(settings, "apply_automl_train_augmentations"))
    train_tf = trial.task.preprocessing.train(augment)
    train_records = read_manifest(trial.train_manifest)
    grid = tile_grid_of(settings.tile_grid_size, trial.task)
    if grid is not None:
        base = dataset_class(train_records, labels)
        train_set = TiledDetectionDataset(base, grid, settings.tile_overlap_ratio, train_tf)
        logger.info("tiling %s: %d images -> %d training items", grid, len(base), len(train_set))
    else:
        train_set = dataset_class(train_records, labels, train_tf)
    valid_set = dataset_class(
        read_manifest(trial.valid_manifest), labels, trial.task.preprocessing.valid()
    )
    common = loader_options(
        effective_workers(settings.number_of_workers), device, settings.random_seed
    )
    common["collate_fn"] = collate_detection
    sampler = distributed_sampler(train_set, settings.random_seed)  # this rank's shard
    train_loader = DataLoader(
        train_set,
        batch_size=settings.training_batch_size,  # per process in a distributed trial
        shuffle=sampler is None,
        sampler=sampler,
        **common,
    )
    valid_loader = DataLoader(valid_set, batch_size=settings.validation_batch_size, **common)
    return DetectionData(labels, train_loader, valid_loader, grid)


def check_model_task(model_name: str, task: TaskDescriptor) -> None:
    """A TrialError unless registered model `model_name` does `task`."""
    if task.name not in get_model_spec(model_name).tasks:
        raise TrialError(
            f"model_name={model_name!r} does not do {task.name}",
            hint="pick a model of the task (automl schema models)",
        )


def build_detector(
    trial: TrialInputs, settings: DetectionTrainingSettings, device: Device
) -> nn.Module:
    """The registry detector with the trial's thresholds and sizes, frozen groups applied
    (layers_to_freeze, else the model's default when pretrained)."""
    params, labels = trial.training_parameters, trial.labels
    model_spec = get_model_spec(settings.model_name)
    check_model_task(settings.model_name, trial.task)
    family = family_of(settings.model_name)
    package = family.package_settings(trial.task.name, settings.model_name, labels, params)
    model = build_detection_model(
        settings.model_name, len(labels), pretrained=settings.pretrained, settings=package
    )
    if settings.checkpoint_run_id:
        load_initial_weights(model, settings.checkpoint_run_id, settings.model_name)
    n_frozen = settings.layers_to_freeze
    if n_frozen is None and settings.pretrained:
        n_frozen = model_spec.extra.get("default_frozen_groups")
    if n_frozen:
        frozen = freeze_layer_groups(model, model_spec, n_frozen)
        logger.info("layers_to_freeze=%d: %d tensors frozen", n_frozen, len(frozen))
    return model.to(device.torch_device)


def build_detection_state(
    trial: TrialInputs, settings: DetectionTrainingSettings, data: DetectionData, device, cancel
) -> TrainingState:
    model = build_detector(trial, settings, device)
    optimizer = build_optimizer(model, settings)
    return TrainingState(
        model=model,
        loss_fn=None,  # torchvision detectors compute their own losses
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, settings, len(data.train_loader)),
        scaler=torch.amp.GradScaler("cuda", enabled=device.amp_dtype == torch.float16),
        device=device,
        settings=settings,
        grad_clip=get_model_spec(settings.model_name).grad_clip,
        multilabel=False,
        canceled=cancel,
    )


def to_device(images: list, targets: list, device: torch.device) -> tuple[list, list]:
    images = [image.to(device, non_blocking=True) for image in images]
    targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
    return images, targets


def detection_batch_loss(state: TrainingState, model: nn.Module, batch) -> torch.Tensor:
    """The detector's summed training losses of one batch (variable-size images)."""
    images, targets = to_device(*batch, state.device.torch_device)
    with state.device.autocast():
        return sum(model(images, targets).values())


def validation_loss(model: nn.Module, images: list, targets: list) -> float:
    """The detector's training loss on a validation batch, without changing any state:
    training mode for the loss heads, BatchNorm kept in eval mode."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    try:
        return float(sum(model(images, targets).values()))
    finally:
        model.eval()


@torch.inference_mode()
def evaluate_detection(
    state: TrainingState, data: DetectionData, task: TaskDescriptor
) -> tuple[dict, DetectionEvaluator]:
    """Validation pass: (metrics incl. log_loss, evaluator with per-label results)."""
    settings: DetectionTrainingSettings = state.settings
    evaluator = task.evaluator(
        data.labels,
        metric_type=settings.validation_metric_type,
        iou_threshold=settings.validation_iou_threshold,
        use_masks=task.masks,
    )
    with_loss = str(settings.log_validation_loss).lower() == "enable"
    state.model.eval()
    loss_sum, n_seen = 0.0, 0
    for images, targets in data.valid_loader:
        if state.canceled():
            raise CanceledByUser
        images, targets = to_device(images, targets, state.device.torch_device)
        for output, target in zip(predict_batch(state, images, data), targets, strict=True):
            evaluator.add(output, target)
        if with_loss:
            loss_sum += validation_loss(state.model, images, targets) * len(images)
        n_seen += len(images)
    metrics = evaluator.compute()
    values = dict(metrics.values)
    if with_loss:
        values["log_loss"] = loss_sum / max(n_seen, 1)
    return values, metrics


def predict_batch(state: TrainingState, images: list, data: DetectionData) -> list[dict]:
    settings: DetectionTrainingSettings = state.settings
    with state.device.autocast():
        if data.tile_grid is None:
            outputs = state.model(images)
        else:
            outputs = [
                predict_tiled(
                    state.model,
                    image,
                    data.tile_grid,
                    settings.tile_overlap_ratio,
                    settings.tile_predictions_nms_threshold,
                )
                for image in images
            ]
    return [{k: v.float() if v.is_floating_point() else v for k, v in o.items()} for o in outputs]


def clean_nested(value):
    """NaN -> None in nested metric dicts (strict JSON files)."""
    if isinstance(value, dict):
        return {k: clean_nested(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def object_details(labels: list[str], metrics) -> Callable[[int], dict]:
    """The best-epoch report of an object task (per-label metrics, PR curves)."""

    def details(epoch: int) -> dict:
        return clean_nested(
            {
                "epoch": epoch,
                "labels": labels,
                "per_label_metrics": metrics.per_label,
                "pr_curves": metrics.pr_curves,
                "confusion_matrix": metrics.confusion_matrix,  # with background, IoU 0.5
            }
        )

    return details


class DetectionTrainer(EpochTrainer):
    """image_object_detection and image_instance_segmentation with torchvision models."""

    settings_class = DetectionTrainingSettings

    def build(self, trial: TrialInputs, settings, device: Device, cancel):
        self.trial = trial
        data = build_detection_data(trial, settings, device)
        state = build_detection_state(trial, settings, data, device, cancel)
        # Detectors may leave parameters without gradient in a step (e.g. no positive box).
        state.ddp_model = wrap_model(state.model, device, find_unused_parameters=True)
        return data, state

    def train_one_epoch(self, state: TrainingState, data: DetectionData, on_step) -> float:
        return train_one_epoch(state, data.train_loader, on_step, detection_batch_loss)

    def evaluate(self, state: TrainingState, data: DetectionData) -> Evaluation:
        try:
            values, metrics = evaluate_detection(state, data, self.trial.task)
        except torch.OutOfMemoryError as exc:
            raise out_of_memory_error(state.settings, "validation_batch_size") from exc
        score = values.get("mean_average_precision", float("nan"))
        keep_latest = state.settings.validation_metric_type == "none"
        details = object_details(data.labels, metrics)
        return Evaluation(clean_nested(values), score, details, keep_latest=keep_latest)
