"""The YOLO trainer: Ultralytics' own training loop behind a thin adapter, inside our trial.

Ultralytics owns the epoch loop (mosaic, its loss, EMA, warmup), so this trainer implements
`fit` itself (a `Trainer`, not an `EpochTrainer`) and calls the run's `EpochHooks` from
Ultralytics' callbacks. What stays ours, exactly as for every other family:

- the data: our train/validation manifests converted once to Ultralytics' layout
  (engine/data/converters/_yolo_export.py, cached by content hash next to the run's
  manifests); with tile_grid_size the training set also holds each image's annotated
  tiles (docs/azure-compatibility.md §9), validation stays full images (the YOLO predictor tiles
  them);
- the hyperparameters: Azure names mapped to Ultralytics arguments (`ultralytics_arguments`);
- the validation: after each epoch (`on_fit_epoch_end`) the EMA model is scored by OUR
  DetectionEvaluator through the YOLO predictor on the same validation manifest as the
  torchvision families; Ultralytics' validator never runs (`validate` and `final_eval` are
  replaced, the only overrides of its trainer), so YOLO and Faster R-CNN trials rank on the
  same numbers;
- metrics.jsonl, status.json, early stopping, the best epoch's model package, pruning
  reports to the study (the hooks) and cancelation (SIGTERM, checked per batch);
- resume: Ultralytics' checkpoints/ultralytics/weights/last.pt plus our
  checkpoints/yolo_progress.json of the same epoch (`resume_point`).

Nothing downloads: YOLO_OFFLINE is set before Ultralytics loads, plots are off, AMP is
bf16 or off (its fp16 AMP check would fetch a model), pretrained weights come from our
registry builder (Ultralytics' weights dir, or the offline error).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from automl.engine.data.converters._yolo_export import YoloExport, YoloTiling, export_yolo_dataset
from automl.engine.data.manifest import read_manifest
from automl.engine.errors import TrialError
from automl.engine.models._yolo import import_ultralytics, yolo_image_size, yolo_settings
from automl.engine.tasks.tiling import tile_target, tile_windows
from automl.engine.training._yolo_resume import resume_point, save_progress
from automl.engine.training.hooks import EpochHooks
from automl.engine.training.loop import CanceledByUser, Device, effective_workers
from automl.engine.training.settings import CommonTrainingSettings, advanced_setting
from automl.engine.training.trainers import Evaluation, Trainer, TrialInputs

logger = logging.getLogger("automl.training")

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "none": "SGD"}
NEVER_STOP = 10**6  # Ultralytics' own early stopping off: ours decides
# the YoloCallbacks methods Ultralytics calls (on_fit_epoch_end: after its EMA update)
CALLBACK_EVENTS = (
    "on_train_epoch_start",
    "on_train_batch_end",
    "on_train_epoch_end",
    "on_fit_epoch_end",
)


@dataclass(frozen=True, kw_only=True)
class YoloTrainingSettings(CommonTrainingSettings):
    """YOLO trials: the common keys plus docs/azure-compatibility.md §3.6 (and tiling, object
    detection)."""

    image_size: int
    model_size: str
    multi_scale: bool
    box_score_threshold: float
    nms_iou_threshold: float
    validation_metric_type: str
    validation_iou_threshold: float
    log_validation_loss: str
    advanced_settings: dict
    # object detection only, read only when tile_grid_size is set (see settings.py)
    tile_grid_size: str | None = None
    tile_overlap_ratio: float | None = None
    tile_predictions_nms_threshold: float | None = None


# ---------------------------------------------------------------- dataset


def yolo_export(trial: TrialInputs) -> YoloExport:
    """What the trial's dataset conversion depends on (tiling: the torchvision families'
    tile geometry, engine/tasks/tiling.py)."""
    return YoloExport(
        train_manifest=trial.train_manifest,
        valid_manifest=trial.valid_manifest,
        labels=list(trial.labels),
        task=trial.task.name,
        segmentation=trial.task.masks,
        tiling=training_tiling(trial),
    )


def training_tiling(trial: TrialInputs) -> YoloTiling | None:
    """The training tiles when the trial trains on tiles (docs/azure-compatibility.md §9), else
    None."""
    from automl.engine.training._detection import tile_grid_of

    params = trial.training_parameters
    grid = tile_grid_of(params.get("tile_grid_size"), trial.task)
    if grid is None:
        return None
    overlap = float(params["tile_overlap_ratio"])  # resolved from the schema's default
    return YoloTiling(grid, overlap, windows=tile_windows, crop_target=tile_target)


def prepare_yolo_dataset(trial: TrialInputs) -> Path:
    """data.yaml of the trial's manifests in Ultralytics' layout (converted once per content)."""
    return export_yolo_dataset(yolo_export(trial))


# ---------------------------------------------------------------- hyperparameters


def amp_mode(device: Device):
    """bf16 where supported; otherwise fp32: Ultralytics' fp16 path first runs an AMP
    check that downloads a model."""
    return "bf16" if device.is_cuda and device.amp_dtype == torch.bfloat16 else False


def augmentation_arguments(settings: YoloTrainingSettings) -> dict:
    """apply_mosaic_for_yolo and apply_automl_train_augmentations (docs/azure-compatibility.md
    §3.8, §3.12):
    the second off means no random affine (scale, translate) and no horizontal flip."""
    mosaic = bool(advanced_setting(settings, "apply_mosaic_for_yolo"))
    if bool(advanced_setting(settings, "apply_automl_train_augmentations")):
        affine = {"fliplr": 0.5, "scale": 0.5, "translate": 0.1}
    else:
        affine = {"fliplr": 0.0, "scale": 0.0, "translate": 0.0}
    return {"mosaic": 1.0 if mosaic else 0.0, **affine}


def ultralytics_arguments(
    trial: TrialInputs, settings: YoloTrainingSettings, data_yaml: Path, device: Device
) -> dict:
    """Ultralytics trainer arguments of a trial (Azure names -> Ultralytics names).

    gradient_accumulation_step maps to `nbs` = batch x steps, which makes Ultralytics
    accumulate exactly that many batches and leaves weight_decay unscaled.
    """
    batch = settings.training_batch_size
    seed = settings.random_seed
    return {
        "task": "segment" if trial.task.masks else "detect",
        "model": f"{settings.model_name}.yaml",  # a label only: the model object is ours
        "data": str(data_yaml),
        "epochs": settings.number_of_epochs,
        "batch": batch,
        "nbs": batch * settings.gradient_accumulation_step,
        "imgsz": yolo_image_size({"image_size": settings.image_size}),
        "multi_scale": 0.5 if settings.multi_scale else 0.0,  # Azure: +-50 %
        "optimizer": OPTIMIZERS[settings.optimizer],
        "lr0": settings.learning_rate,
        "momentum": settings.momentum if settings.optimizer == "sgd" else settings.beta1,
        "weight_decay": settings.weight_decay,
        "cos_lr": settings.learning_rate_scheduler == "warmup_cosine",
        "warmup_epochs": settings.warmup_cosine_lr_warmup_epochs,
        "seed": 0 if seed is None else seed,
        "deterministic": seed is not None,
        "workers": effective_workers(settings.number_of_workers),
        "device": "0" if device.is_cuda else "cpu",
        "freeze": settings.layers_to_freeze,
        "conf": settings.box_score_threshold,
        "iou": settings.nms_iou_threshold,
        "amp": amp_mode(device),
        "patience": NEVER_STOP,
        "pretrained": False,  # the registry builder loaded the weights already
        "plots": False,  # plotting downloads a font
        "val": True,
        "save": True,
        "verbose": False,
        "exist_ok": True,
        **augmentation_arguments(settings),
    }


def ultralytics_trainer_class(segmentation: bool):
    """Ultralytics' trainer (detect or segment) with its validator replaced by ours (the
    only change)."""
    import_ultralytics()
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.models.yolo.segment import SegmentationTrainer

    base = SegmentationTrainer if segmentation else DetectionTrainer

    class AutomlYoloTrainer(base):
        def validate(self):
            # our evaluation runs in on_fit_epoch_end; no Ultralytics metrics or fitness
            return {}, None

        def final_eval(self):
            # the best epoch's package is already written (EpochHooks.save_best)
            return None

        def setup_model(self):
            if not self.resume:
                return super().setup_model()  # our registry model is set: nothing to build
            # Ultralytics would rebuild the model from the checkpoint; ours stays and gets
            # the checkpoint's (EMA) weights, like Ultralytics' own resume
            from ultralytics.nn.tasks import load_checkpoint

            # Unpickles (Ultralytics pickles its modules): self.args.model is only ever
            # `resume_point`'s last.pt, which Ultralytics' trainer wrote inside this
            # trial's own checkpoints/ folder; never a file from a model package or a user.
            weights, checkpoint = load_checkpoint(self.args.model)
            self.model.load_state_dict(weights.float().state_dict())
            return checkpoint

    return AutomlYoloTrainer


# ---------------------------------------------------------------- validation


@dataclass
class YoloValidation:
    """The validation manifest and what scores it: targets from our datasets, predictions
    from the YOLO predictor (same code as inference)."""

    trial: TrialInputs
    dataset: object
    settings: dict
    batch_size: int

    @property
    def labels(self) -> list[str]:
        return list(self.trial.labels)

    def evaluate(self, model, device: torch.device, trial_settings) -> tuple[dict, object]:
        from automl.engine.predict import task_predictor_class

        task = self.trial.task
        meta = {"task": task.name, "labels": self.labels}
        predictor_class = task_predictor_class(task.name, trial_settings.model_name)
        predictor = predictor_class(model, meta, self.settings, device)
        evaluator = task.evaluator(
            self.labels,
            metric_type=trial_settings.validation_metric_type,
            iou_threshold=trial_settings.validation_iou_threshold,
            use_masks=task.masks,
        )
        for start in range(0, len(self.dataset), self.batch_size):
            items = [
                self.dataset[i]
                for i in range(start, min(start + self.batch_size, len(self.dataset)))
            ]
            outputs = predictor.forward([image for image, _ in items])
            for output, (_, target) in zip(outputs, items, strict=True):
                evaluator.add(output, target)
        metrics = evaluator.compute()
        return dict(metrics.values), metrics


@torch.no_grad()
def yolo_validation_loss(trainer, model) -> float | None:
    """Ultralytics' training loss (box + cls + dfl, + seg for segmentation) on its own
    validation loader, per batch as its validator computes it while training; our metrics
    come from our evaluator, this is only the `log_loss` curve. None without a loader."""
    loader = getattr(trainer, "test_loader", None)
    if loader is None:
        return None
    device = trainer.device
    was_training = model.training
    model.eval()
    total, n_batches = 0.0, 0
    try:
        for batch in loader:
            # the validator's preprocessing (no multi-scale resize: that is training's)
            batch["img"] = batch["img"].to(device, non_blocking=True).float() / 255
            for key in ("batch_idx", "cls", "bboxes", "masks"):
                if key in batch:
                    batch[key] = batch[key].to(device)
            _, items = model.loss(batch, model(batch["img"]))
            # components by name (Ultralytics 8.4+) or as one tensor (before)
            parts = items.values() if isinstance(items, dict) else [items]
            total += sum(float(part.sum()) for part in parts)
            n_batches += 1
    finally:
        model.train(was_training)
    return total / n_batches if n_batches else None


def build_validation(trial: TrialInputs, settings: YoloTrainingSettings) -> YoloValidation:
    from automl.engine.training._detection import object_dataset_class

    labels = list(trial.labels)
    dataset = object_dataset_class(trial.task)(read_manifest(trial.valid_manifest), labels)
    package = yolo_settings(trial.task.name, settings.model_name, labels, trial.training_parameters)
    return YoloValidation(trial, dataset, package, settings.validation_batch_size)


# ---------------------------------------------------------------- the trial


def build_trial_model(trial: TrialInputs, settings: YoloTrainingSettings):
    """The registry model (YAML, COCO weights when pretrained), checkpoint_run_id applied."""
    from automl.engine.models import build_detection_model
    from automl.engine.training._detection import check_model_task
    from automl.engine.training.loop import load_initial_weights

    check_model_task(settings.model_name, trial.task)
    labels = trial.labels
    model = build_detection_model(
        settings.model_name,
        len(labels),
        pretrained=settings.pretrained,
        settings={"model_size": settings.model_size},
    )
    if settings.checkpoint_run_id:
        load_initial_weights(model, settings.checkpoint_run_id, settings.model_name)
    return model


class YoloCallbacks:
    """Ultralytics callbacks that feed the trial's EpochHooks: status per batch, cancel
    checks, and after each epoch our evaluation, metrics.jsonl, best package, pruning,
    stopping (the same hooks our own loop calls)."""

    def __init__(self, hooks: EpochHooks, evaluate, labels: list[str], cancel) -> None:
        self.hooks = hooks
        self.evaluate = evaluate  # (model, ultralytics trainer) -> Evaluation
        self.labels = labels
        self.cancel = cancel
        self.step = 0
        self.outcome = "complete"
        self.n_images = 0
        self.train_seconds = 0.0
        self.epoch_started = 0.0

    def on_train_epoch_start(self, trainer) -> None:
        self.step = 0
        self.epoch_started = time.monotonic()
        self.hooks.begin_epoch()

    def on_train_batch_end(self, trainer) -> None:
        if self.cancel():
            raise CanceledByUser
        self.step += 1
        self.n_images += int(trainer.batch_size)
        n_steps = len(trainer.train_loader)
        self.hooks.on_step(trainer.epoch + 1, self.step, n_steps, lambda: training_loss(trainer))

    def on_train_epoch_end(self, trainer) -> None:
        self.train_seconds += time.monotonic() - self.epoch_started

    def on_fit_epoch_end(self, trainer) -> None:
        hooks, epoch = self.hooks, trainer.epoch + 1
        loss = training_loss(trainer)
        train_loss = math.nan if loss is None else loss
        model = trainer.ema.ema
        score, pruned = None, False
        if hooks.should_evaluate(epoch):
            lr = trainer.optimizer.param_groups[0]["lr"]
            evaluation = self.evaluate(model, trainer)
            score, pruned = hooks.record_evaluation(
                epoch, evaluation, model, self.labels, train_loss, lr
            )
        hooks.finish_epoch(epoch, model, self.labels)
        hooks.log_epoch(epoch, train_loss, score)
        save_progress(hooks.run, epoch)
        if pruned or hooks.stop_requested:
            self.outcome = "pruned" if pruned else "complete"
            trainer.stop = True


def training_loss(trainer) -> float | None:
    """Ultralytics' running training loss (its components summed), None before any batch."""
    return sum(float(v) for v in trainer.tloss.values()) if trainer.tloss else None


class YoloTrainer(Trainer):
    """image_object_detection and image_instance_segmentation with Ultralytics YOLO."""

    settings_class = YoloTrainingSettings

    def fit(self, trial: TrialInputs, settings, hooks: EpochHooks, device: Device, cancel) -> str:
        """Train the trial with Ultralytics' loop; return "complete" or "pruned"."""
        self.trial, self.settings = trial, settings
        model = build_trial_model(trial, settings)
        data_yaml = prepare_yolo_dataset(trial)
        self.validation = build_validation(trial, settings)
        callbacks = YoloCallbacks(hooks, self.evaluate, self.validation.labels, cancel)
        run = hooks.run
        last = resume_point(run)
        if last is not None and (
            run.epochs_completed >= settings.number_of_epochs or hooks.stop_requested
        ):
            logger.info("resume: the trial had finished training; nothing left to run")
            return "complete"
        trainer = self.ultralytics_trainer(run, data_yaml, device, last)
        trainer.model = model
        for event in CALLBACK_EVENTS:
            trainer.add_callback(event, getattr(callbacks, event))
        self.callbacks = callbacks
        run_ultralytics(trainer, settings)
        logger.info(
            "training: %.1f images/s (%d images in %.1f s)",
            callbacks.n_images / max(callbacks.train_seconds, 1e-9),
            callbacks.n_images,
            callbacks.train_seconds,
        )
        return callbacks.outcome

    def ultralytics_trainer(self, run, data_yaml: Path, device: Device, last: Path | None):
        """Ultralytics' trainer of the trial, continuing from `last` when given."""
        arguments = ultralytics_arguments(self.trial, self.settings, data_yaml, device)
        save_dir = run.checkpoint_dir / "ultralytics"
        arguments.update(project=str(run.checkpoint_dir), name=save_dir.name)
        if last is not None:
            # the trial folder may have moved since the checkpoint named its save_dir
            arguments.update(resume=str(last), save_dir=str(save_dir))
        trainer = ultralytics_trainer_class(self.trial.task.masks)(overrides=arguments)
        # Ultralytics resumes with the checkpoint's epochs; ours may be raised on resume
        trainer.epochs = trainer.args.epochs = self.settings.number_of_epochs
        return trainer

    def evaluate(self, model, trainer) -> Evaluation:
        """Our metrics on the EMA model (and Ultralytics' loss on its validation loader)."""
        from automl.engine.training._detection import clean_nested, object_details

        settings = self.settings
        values, metrics = self.validation.evaluate(model, trainer.device, settings)
        if str(settings.log_validation_loss).lower() == "enable":
            loss = yolo_validation_loss(trainer, model)
            if loss is not None:
                values["log_loss"] = loss
        score = values.get("mean_average_precision", float("nan"))
        details = object_details(self.validation.labels, metrics)
        keep_latest = settings.validation_metric_type == "none"
        return Evaluation(clean_nested(values), score, details, keep_latest=keep_latest)


def run_ultralytics(trainer, settings: YoloTrainingSettings) -> None:
    """Ultralytics' training loop, its memory and dataset errors translated."""
    try:
        trainer.train()
    except RuntimeError as exc:
        error = translate_error(exc, settings)
        if error is exc:
            raise
        raise error from exc


def translate_error(exc: RuntimeError, settings: YoloTrainingSettings) -> Exception:
    """Ultralytics' memory and dataset errors as trial errors a user can act on; anything
    else is a bug and keeps its traceback."""
    message = str(exc)
    if "out of memory" in message.lower():
        from automl.engine.training.loop import out_of_memory_error

        return out_of_memory_error(settings, "training_batch_size")
    if message.startswith("Dataset"):
        return TrialError(f"Ultralytics could not read the converted dataset: {message}")
    return exc
