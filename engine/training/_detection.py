"""The detection trainer (object detection and instance segmentation, torchvision models).

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
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from automl.engine.data.datasets import DetectionDataset, InstanceSegmentationDataset
from automl.engine.data.manifest import read_manifest
from automl.engine.errors import TrialError
from automl.engine.metrics.detection import DetectionEvaluator
from automl.engine.models import build_detection_model, freeze_layer_groups, get_model_spec
from automl.engine.models._detection import (
    DETECTION_TASK,
    SEGMENTATION_TASK,
    detection_settings,
)
from automl.engine.tasks.detection import (
    build_detection_train_transform,
    build_detection_valid_transform,
    collate_detection,
)
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
from automl.engine.training.settings import DetectionTrainingSettings
from automl.engine.training.trainers import Evaluation

logger = logging.getLogger("automl.training")


@dataclass
class DetectionData:
    labels: list[str]
    train_loader: DataLoader
    valid_loader: DataLoader
    tile_grid: tuple[int, int] | None


def tile_grid_of(settings: DetectionTrainingSettings, task: str) -> tuple[int, int] | None:
    """The tile grid, or None; instance segmentation does not tile (reference §9)."""
    if not settings.tile_grid_size:
        return None
    if task != DETECTION_TASK:
        raise TrialError(
            f"training_parameters.tile_grid_size={settings.tile_grid_size!r}: tiling is "
            f"supported for image_object_detection only, not {task}",
            hint="remove tile_grid_size",
        )
    return parse_tile_grid(settings.tile_grid_size)


def build_detection_data(
    spec: dict, settings: DetectionTrainingSettings, device: Device
) -> DetectionData:
    """Loaders over the manifests; with tiling, training sees images plus their tiles."""
    labels = list(spec["data"]["labels"])
    dataset_class = (
        InstanceSegmentationDataset if spec["task"] == SEGMENTATION_TASK else DetectionDataset
    )
    augment = bool(settings.advanced_settings.get("apply_automl_train_augmentations", True))
    train_tf = build_detection_train_transform(augment)
    train_records = read_manifest(spec["data"]["train_manifest"])
    grid = tile_grid_of(settings, spec["task"])
    if grid is not None:
        base = dataset_class(train_records, labels)
        train_set = TiledDetectionDataset(base, grid, settings.tile_overlap_ratio, train_tf)
        logger.info("tiling %s: %d images -> %d training items", grid, len(base), len(train_set))
    else:
        train_set = dataset_class(train_records, labels, train_tf)
    valid_set = dataset_class(
        read_manifest(spec["data"]["valid_manifest"]), labels, build_detection_valid_transform()
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


def build_detector(spec: dict, settings: DetectionTrainingSettings, device: Device) -> nn.Module:
    """The registry detector with the trial's thresholds and sizes, frozen groups applied
    (layers_to_freeze, else the model's default when pretrained)."""
    params = spec["training_parameters"]
    labels = spec["data"]["labels"]
    model_spec = get_model_spec(settings.model_name)
    if spec["task"] not in model_spec.tasks:
        raise TrialError(
            f"model_name={settings.model_name!r} does not do {spec['task']}",
            hint="pick a model of the task (automl schema models)",
        )
    package = detection_settings(spec["task"], settings.model_name, labels, params)
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
    spec: dict, settings: DetectionTrainingSettings, data: DetectionData, device, cancel
) -> TrainingState:
    model = build_detector(spec, settings, device)
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
    state: TrainingState, data: DetectionData, task: str
) -> tuple[dict, DetectionEvaluator]:
    """Validation pass: (metrics incl. log_loss, evaluator with per-label results)."""
    settings: DetectionTrainingSettings = state.settings
    evaluator = DetectionEvaluator(
        data.labels,
        metric_type=settings.validation_metric_type,
        iou_threshold=settings.validation_iou_threshold,
        use_masks=task == SEGMENTATION_TASK,
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


class DetectionTrainer:
    """image_object_detection and image_instance_segmentation with torchvision models."""

    tasks = (DETECTION_TASK, SEGMENTATION_TASK)
    settings_class = DetectionTrainingSettings

    def build(self, spec: dict, settings, device: Device, cancel):
        data = build_detection_data(spec, settings, device)
        state = build_detection_state(spec, settings, data, device, cancel)
        # Detectors may leave parameters without gradient in a step (e.g. no positive box).
        state.ddp_model = wrap_model(state.model, device, find_unused_parameters=True)
        return data, state

    def train_one_epoch(self, state: TrainingState, data: DetectionData, on_step) -> float:
        return train_one_epoch(state, data.train_loader, on_step, detection_batch_loss)

    def evaluate(self, spec: dict, state: TrainingState, data: DetectionData) -> Evaluation:
        try:
            values, metrics = evaluate_detection(state, data, spec["task"])
        except torch.OutOfMemoryError as exc:
            raise out_of_memory_error(state.settings, "validation_batch_size") from exc
        score = values.get("mean_average_precision", float("nan"))

        def details(epoch: int) -> dict:
            return clean_nested(
                {
                    "epoch": epoch,
                    "labels": data.labels,
                    "per_label_metrics": metrics.per_label,
                    "pr_curves": metrics.pr_curves,
                }
            )

        keep_latest = state.settings.validation_metric_type == "none"
        return Evaluation(clean_nested(values), score, details, keep_latest=keep_latest)

    def write_plots(self, records: list[dict], details: dict, plots, primary_key: str) -> None:
        from automl.engine.metrics.detection import plot_pr_curves
        from automl.engine.metrics.plots import plot_curve, plot_metric_curves

        plot_metric_curves(records, plots, primary_key)
        epochs = [record["epoch"] for record in records]
        for name in ("precision", "recall"):
            values = [record["valid"].get(name) for record in records]
            if any(value is not None for value in values):
                plot_curve(epochs, {name: values}, name, plots / f"{name}.png")
        if details.get("pr_curves"):
            plot_pr_curves(details["pr_curves"], plots / "pr_curve.png")
