"""The YOLO trainer: Ultralytics' own training loop behind a thin adapter, inside our trial.

Ultralytics owns the epoch loop (mosaic, its loss, EMA, warmup), so this trainer provides
`fit(run, device, cancel)` instead of `build`/`train_one_epoch`, and trial.py hands it the
run. What stays ours, exactly as for every other family:

- the data: our train/validation manifests converted once to Ultralytics' layout (images
  linked, one label .txt per image, data.yaml), cached by content hash next to the run's
  manifests (`prepare_yolo_dataset`); with tile_grid_size the training set also holds
  each image's annotated tiles (reference §9, `write_yolo_tiles`), validation stays full
  images (the YOLO predictor tiles them);
- the hyperparameters: Azure names mapped to Ultralytics arguments (`ultralytics_arguments`);
- the validation: after each epoch (`on_fit_epoch_end`) the EMA model is scored by OUR
  DetectionEvaluator through the YOLO predictor on the same validation manifest as the
  torchvision families; Ultralytics' validator never runs (`validate` and `final_eval` are
  replaced, the only overrides of its trainer), so YOLO and Faster R-CNN trials rank on the
  same numbers;
- metrics.jsonl, status.json, early stopping, the best epoch's model package, pruning
  reports to the study (trial.evaluate_epoch) and cancelation (SIGTERM, checked per batch).
- resume: Ultralytics' checkpoints/ultralytics/weights/last.pt plus our
  checkpoints/yolo_progress.json of the same epoch (`resume_point`).

Nothing downloads: YOLO_OFFLINE is set before Ultralytics loads, plots are off, AMP is
bf16 or off (its fp16 AMP check would fetch a model), pretrained weights come from our
registry builder (Ultralytics' weights dir, or the offline error).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

from automl.engine.data.manifest import read_manifest
from automl.engine.errors import TrialError
from automl.engine.models._yolo import (
    SEGMENTATION_TASK,
    import_ultralytics,
    yolo_image_size,
    yolo_settings,
)
from automl.engine.tasks.tiling import parse_tile_grid, tile_target, tile_windows
from automl.engine.training.loop import CanceledByUser, Device, effective_workers
from automl.engine.training.settings import CommonTrainingSettings
from automl.engine.training.trainers import Evaluation
from automl.engine.utils.files import write_json_atomic

logger = logging.getLogger("automl.training")

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "none": "SGD"}
DATASET_FORMAT = 1  # bump when the converted layout changes (part of the cache key)
NEVER_STOP = 10**6  # Ultralytics' own early stopping off: ours decides
PROGRESS_FILE = "yolo_progress.json"  # our side of a YOLO trial, next to Ultralytics' last.pt


@dataclass(frozen=True, kw_only=True)
class YoloTrainingSettings(CommonTrainingSettings):
    """YOLO trials: the common keys plus reference §3.6 (and tiling, object detection)."""

    image_size: int
    model_size: str
    multi_scale: bool
    box_score_threshold: float
    nms_iou_threshold: float
    validation_metric_type: str
    validation_iou_threshold: float
    advanced_settings: dict
    tile_grid_size: str | None = None
    tile_overlap_ratio: float = 0.25
    tile_predictions_nms_threshold: float = 0.25


# ---------------------------------------------------------------- dataset conversion


def dataset_key(spec: dict) -> str:
    """Content hash of what the converted dataset depends on (tiling included)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([DATASET_FORMAT, spec["task"], spec["data"]["labels"]]).encode())
    tiling = training_tiling(spec)
    if tiling is not None:  # untiled keys stay as they were: existing conversions are reused
        digest.update(json.dumps(["tiles", *tiling]).encode())
    for key in ("train_manifest", "valid_manifest"):
        digest.update(Path(spec["data"][key]).read_bytes())
    return digest.hexdigest()[:16]


def prepare_yolo_dataset(spec: dict) -> Path:
    """data.yaml of the trial's manifests in Ultralytics' layout, converted once per content
    (trials of a sweep share it; a concurrent conversion loses the rename race harmlessly)."""
    root = Path(spec["data"]["train_manifest"]).parent / "yolo" / dataset_key(spec)
    data_yaml = root / "data.yaml"
    if data_yaml.is_file():
        return data_yaml
    staging = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    write_yolo_dataset(spec, staging, final_root=root)
    try:
        staging.rename(root)
    except OSError:  # another trial finished the same conversion first
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    return data_yaml


def write_yolo_dataset(spec: dict, root: Path, final_root: Path) -> None:
    """Write the layout into `root`; data.yaml names `final_root`, where it will live."""
    labels = list(spec["data"]["labels"])
    segmentation = spec["task"] == SEGMENTATION_TASK
    tiling = training_tiling(spec)
    n_tiles = 0
    for split, key in (("train", "train_manifest"), ("valid", "valid_manifest")):
        for i, record in enumerate(read_manifest(spec["data"][key])):
            write_yolo_item(root, split, i, record, labels, segmentation)
            # validation stays full images: the YOLO predictor tiles them itself
            if tiling is not None and split == "train":
                n_tiles += write_yolo_tiles(root, i, record, labels, tiling)
    if tiling is not None:
        logger.info("tiling %s: %d tiles added to the YOLO training set", tiling[0], n_tiles)
    names = "\n".join(f"  {i}: {json.dumps(name)}" for i, name in enumerate(labels))
    (root / "data.yaml").write_text(
        f"path: {final_root}\ntrain: images/train\nval: images/valid\nnames:\n{names}\n",
        encoding="utf-8",
    )


def write_yolo_item(
    root: Path, split: str, i: int, record: dict, labels: list[str], segmentation: bool
) -> None:
    """Link (or, for URLs and odd formats, re-encode) one image and write its label file."""
    from automl.engine.data.images import load_image_rgb

    source = str(record["image_url"])
    suffix = Path(source).suffix.lower()
    stem = item_stem(i, record)
    image_dir, label_dir = split_dirs(root, split)
    if os.path.isfile(source) and suffix in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"):
        os.symlink(os.path.abspath(source), image_dir / f"{stem}{suffix}")
    else:
        load_image_rgb(source).save(image_dir / f"{stem}.png")
    lines = [label_line(o, labels, segmentation) for o in record["label"] if not o.get("isCrowd")]
    (label_dir / f"{stem}.txt").write_text("".join(line + "\n" for line in lines if line))


def item_stem(i: int, record: dict) -> str:
    """File stem of manifest row `i` (the index keeps equal file names apart)."""
    return f"{i:06d}_{Path(str(record['image_url'])).stem}"[:120]


def split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    """images/<split> and labels/<split> of the layout, created."""
    image_dir, label_dir = root / "images" / split, root / "labels" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    return image_dir, label_dir


def training_tiling(spec: dict) -> tuple[tuple[int, int], float] | None:
    """(grid, overlap) when the trial trains on tiles (reference §9), else None."""
    params = spec["training_parameters"]
    text = params.get("tile_grid_size")
    if not text:
        return None
    if spec["task"] == SEGMENTATION_TASK:
        raise TrialError(
            f"training_parameters.tile_grid_size={text!r}: tiling is supported for "
            f"image_object_detection only, not {spec['task']}",
            hint="remove tile_grid_size",
        )
    overlap = params.get("tile_overlap_ratio")
    return parse_tile_grid(text), 0.25 if overlap is None else float(overlap)


def write_yolo_tiles(
    root: Path, i: int, record: dict, labels: list[str], tiling: tuple[tuple[int, int], float]
) -> int:
    """The annotated tiles of manifest row `i` as extra training images (reference §9:
    boxes intersected with each tile and made relative to it, tiles without boxes left
    out), the same tiles TiledDetectionDataset gives the torchvision families; returns how
    many were written."""
    from automl.engine.data.datasets import DetectionDataset
    from automl.engine.data.images import load_image_rgb

    image = load_image_rgb(record["image_url"])
    target = DetectionDataset([record], labels, label_offset=0).target(0, *image.size)
    image_dir, label_dir = split_dirs(root, "train")
    written = 0
    for k, window in enumerate(tile_windows(*image.size, *tiling)):
        tiled = tile_target(target, window)
        if not len(tiled["boxes"]):
            continue
        stem = f"{item_stem(i, record)}_tile{k:03d}"
        # JPEG keeps the tile folder small; quality 95 is far above what training notices
        image.crop(window).save(image_dir / f"{stem}.jpg", quality=95)
        lines = tile_label_lines(tiled, window)
        (label_dir / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
        written += 1
    return written


def tile_label_lines(tiled: dict, window: tuple[int, int, int, int]) -> list[str]:
    """`cls cx cy w h` of a tile's boxes (tile pixels), normalised by the tile size;
    crowd objects are not training data (as for full images)."""
    width, height = window[2] - window[0], window[3] - window[1]
    lines = []
    for box, cls, crowd in zip(
        tiled["boxes"].tolist(), tiled["labels"].tolist(), tiled["iscrowd"].tolist(), strict=True
    ):
        if crowd:
            continue
        x0, x1 = (min(max(v / width, 0.0), 1.0) for v in (box[0], box[2]))
        y0, y1 = (min(max(v / height, 0.0), 1.0) for v in (box[1], box[3]))
        values = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
        lines.append(" ".join([str(cls)] + [f"{v:.6f}" for v in values]))
    return lines


def label_line(obj: dict, labels: list[str], segmentation: bool) -> str:
    """`cls cx cy w h` (detection) or `cls x1 y1 x2 y2 ...` (segmentation), normalised."""
    cls = labels.index(obj["label"])
    if segmentation:
        from automl.engine.data.masks import polygon_area

        part = max(obj["polygon"], key=polygon_area)  # one polygon per line in YOLO files
        return " ".join([str(cls)] + [f"{min(max(v, 0.0), 1.0):.6f}" for v in part])
    x0, y0 = max(obj["topX"], 0.0), max(obj["topY"], 0.0)
    x1, y1 = min(obj["bottomX"], 1.0), min(obj["bottomY"], 1.0)
    if x1 <= x0 or y1 <= y0:
        return ""
    values = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
    return " ".join([str(cls)] + [f"{v:.6f}" for v in values])


# ---------------------------------------------------------------- hyperparameters


def amp_mode(device: Device):
    """bf16 where supported; otherwise fp32: Ultralytics' fp16 path first runs an AMP
    check that downloads a model."""
    return "bf16" if device.is_cuda and device.amp_dtype == torch.bfloat16 else False


def augmentation_arguments(settings: YoloTrainingSettings) -> dict:
    """apply_mosaic_for_yolo and apply_automl_train_augmentations (reference §3.8, §3.12):
    the second off means no random affine (scale, translate) and no horizontal flip."""
    advanced = settings.advanced_settings
    mosaic = bool(advanced.get("apply_mosaic_for_yolo", True))
    if bool(advanced.get("apply_automl_train_augmentations", True)):
        affine = {"fliplr": 0.5, "scale": 0.5, "translate": 0.1}
    else:
        affine = {"fliplr": 0.0, "scale": 0.0, "translate": 0.0}
    return {"mosaic": 1.0 if mosaic else 0.0, **affine}


def ultralytics_arguments(
    spec: dict, settings: YoloTrainingSettings, data_yaml: Path, device: Device
) -> dict:
    """Ultralytics trainer arguments of a trial (Azure names -> Ultralytics names).

    gradient_accumulation_step maps to `nbs` = batch x steps, which makes Ultralytics
    accumulate exactly that many batches and leaves weight_decay unscaled.
    """
    batch = settings.training_batch_size
    seed = settings.random_seed
    return {
        "task": "segment" if spec["task"] == SEGMENTATION_TASK else "detect",
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


def ultralytics_trainer_class(task: str):
    """Ultralytics' trainer of `task` with its validator replaced by ours (the only change)."""
    import_ultralytics()
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.models.yolo.segment import SegmentationTrainer

    base = SegmentationTrainer if task == SEGMENTATION_TASK else DetectionTrainer

    class AutomlYoloTrainer(base):
        def validate(self):
            # our evaluation runs in on_fit_epoch_end; no Ultralytics metrics or fitness
            return {}, None

        def final_eval(self):
            # the best epoch's package is already written (trial.save_best)
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

    labels: list[str]
    dataset: object
    settings: dict
    task: str
    batch_size: int

    def evaluate(self, model, device: torch.device, trial_settings) -> tuple[dict, object]:
        from automl.engine.metrics.detection import DetectionEvaluator
        from automl.engine.predict._yolo import yolo_predictor_class

        meta = {"task": self.task, "labels": self.labels}
        predictor = yolo_predictor_class(self.task)(model, meta, self.settings, device)
        evaluator = DetectionEvaluator(
            self.labels,
            metric_type=trial_settings.validation_metric_type,
            iou_threshold=trial_settings.validation_iou_threshold,
            use_masks=self.task == SEGMENTATION_TASK,
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


def build_validation(spec: dict, settings: YoloTrainingSettings) -> YoloValidation:
    from automl.engine.data.datasets import DetectionDataset, InstanceSegmentationDataset

    labels = list(spec["data"]["labels"])
    dataset_class = (
        InstanceSegmentationDataset if spec["task"] == SEGMENTATION_TASK else DetectionDataset
    )
    dataset = dataset_class(read_manifest(spec["data"]["valid_manifest"]), labels)
    package = yolo_settings(spec["task"], settings.model_name, labels, spec["training_parameters"])
    return YoloValidation(labels, dataset, package, spec["task"], settings.validation_batch_size)


# ---------------------------------------------------------------- the trial


def build_trial_model(spec: dict, settings: YoloTrainingSettings):
    """The registry model (YAML, COCO weights when pretrained), checkpoint_run_id applied."""
    from automl.engine.models import build_detection_model, get_model_spec
    from automl.engine.training.loop import load_initial_weights

    if spec["task"] not in get_model_spec(settings.model_name).tasks:
        raise TrialError(
            f"model_name={settings.model_name!r} does not do {spec['task']}",
            hint="pick a model of the task (automl schema models)",
        )
    labels = spec["data"]["labels"]
    model = build_detection_model(
        settings.model_name,
        len(labels),
        pretrained=settings.pretrained,
        settings={"model_size": settings.model_size},
    )
    if settings.checkpoint_run_id:
        load_initial_weights(model, settings.checkpoint_run_id, settings.model_name)
    return model


class EpochHooks:
    """Ultralytics callbacks that feed our trial run: status per batch, cancel checks,
    and after each epoch our evaluation, metrics.jsonl, best package, pruning, stopping."""

    def __init__(self, run, validation: YoloValidation, cancel) -> None:
        from automl.engine.training.status import EtaEstimator

        self.run = run
        self.validation = validation
        self.cancel = cancel
        self.eta = EtaEstimator(run.settings.number_of_epochs)
        self.step = 0
        self.outcome = "complete"
        self.n_images = 0
        self.train_seconds = 0.0
        self.epoch_started = 0.0

    def on_train_epoch_start(self, trainer) -> None:
        self.step = 0
        self.epoch_started = time.monotonic()

    def on_train_batch_end(self, trainer) -> None:
        if self.cancel():
            raise CanceledByUser
        self.step += 1
        self.eta.steps_done += 1
        self.n_images += int(trainer.batch_size)
        n_steps = len(trainer.train_loader)
        status = self.run.status
        status.fields.update(epoch=trainer.epoch + 1, step=self.step, n_steps=n_steps)
        if status.due():
            loss = sum(float(v) for v in trainer.tloss.values()) if trainer.tloss else None
            estimate = self.eta.estimate(trainer.epoch + 1, self.step, n_steps, self.eta.steps_done)
            status.update(train_loss=loss, eta_s=estimate)

    def on_train_epoch_end(self, trainer) -> None:
        self.train_seconds += time.monotonic() - self.epoch_started

    def on_fit_epoch_end(self, trainer) -> None:
        from automl.engine.training import trial

        run, epoch = self.run, trainer.epoch + 1
        train_loss = sum(float(v) for v in trainer.tloss.values()) if trainer.tloss else math.nan
        state = SimpleNamespace(model=trainer.ema.ema, optimizer=trainer.optimizer)
        data = SimpleNamespace(labels=self.validation.labels, trainer=trainer)
        score, pruned = None, False
        if trial.should_evaluate(epoch, run.settings):
            score, pruned = trial.evaluate_epoch(run, state, data, epoch, train_loss)
        run.epochs_completed = epoch
        trial.save_epoch_checkpoint(run, state, self.validation.labels, epoch)
        trial.log_epoch(run, epoch, train_loss, score, self.eta)
        save_progress(run, epoch)
        if pruned or run.stopper.should_stop:
            self.outcome = "pruned" if pruned else "complete"
            trainer.stop = True


# ---------------------------------------------------------------- resume


def ultralytics_last(run) -> Path:
    """Ultralytics' resumable checkpoint of the trial (written after every epoch)."""
    return run.checkpoint_dir / "ultralytics" / "weights" / "last.pt"


def save_progress(run, epoch: int) -> None:
    """Our side of the trial after `epoch` (early stopping, elapsed time): with Ultralytics'
    last.pt of the same epoch it is what a resumed trial continues from."""
    state = {
        "epoch": epoch,
        "elapsed_s": run.elapsed_s,
        "early_stopping": run.stopper.state_dict(),
    }
    write_json_atomic(run.checkpoint_dir / PROGRESS_FILE, state)


def checkpoint_epoch(path: Path) -> int:
    """Epochs done in an Ultralytics checkpoint (it stores the 0-based last epoch)."""
    import_ultralytics()  # its classes unpickle the checkpoint
    # weights_only=False runs pickled code: `path` is only `ultralytics_last(run)`, the
    # last.pt Ultralytics' trainer wrote inside this trial's own checkpoints/ folder, never
    # a file from a model package, a registry or a user (those load with weights_only=True)
    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"]) + 1


def resume_point(run) -> Path | None:
    """With spec.resume: Ultralytics' last.pt to continue from, our early stopping,
    elapsed time and metrics.jsonl restored to its epoch; None: start at epoch 1."""
    from automl.engine.training import trial

    if not run.spec.get("resume"):
        return None
    last, progress_path = ultralytics_last(run), run.checkpoint_dir / PROGRESS_FILE
    done = checkpoint_epoch(last) if last.is_file() and progress_path.is_file() else None
    progress = json.loads(progress_path.read_text(encoding="utf-8")) if done else None
    if progress is None or progress["epoch"] != done:
        # no checkpoint yet, or one whose epoch our records missed (killed in between)
        logger.info("resume: no YOLO checkpoint matching metrics.jsonl, starting at epoch 1")
        trial.drop_metrics_after(run.trial_dir / "metrics.jsonl", 0)
        return None
    run.stopper.load_state_dict(progress["early_stopping"])
    run.elapsed_before = progress["elapsed_s"]
    run.epochs_completed = done
    trial.drop_metrics_after(run.trial_dir / "metrics.jsonl", done)
    trial.restore_best_metrics(run)
    logger.info("resumed from %s: continuing at epoch %d", last.name, done + 1)
    return last


class YoloTrainer:
    """image_object_detection and image_instance_segmentation with Ultralytics YOLO."""

    tasks = ("image_object_detection", SEGMENTATION_TASK)
    settings_class = YoloTrainingSettings

    def fit(self, run, device: Device, cancel) -> str:
        """Train the trial with Ultralytics' loop; return "complete" or "pruned"."""
        spec, settings = run.spec, run.settings
        self.settings = settings
        model = build_trial_model(spec, settings)
        data_yaml = prepare_yolo_dataset(spec)
        self.validation = build_validation(spec, settings)
        hooks = EpochHooks(run, self.validation, cancel)
        last = resume_point(run)
        if last is not None and (
            run.epochs_completed >= settings.number_of_epochs or run.stopper.should_stop
        ):
            logger.info("resume: the trial had finished training; nothing left to run")
            return "complete"
        trainer = self.ultralytics_trainer(run, data_yaml, device, last)
        trainer.model = model
        for event in ("on_train_epoch_start", "on_train_batch_end", "on_train_epoch_end"):
            trainer.add_callback(event, getattr(hooks, event))
        trainer.add_callback("on_fit_epoch_end", hooks.on_fit_epoch_end)
        self.hooks = hooks
        try:
            trainer.train()
        except RuntimeError as exc:
            error = translate_error(exc, settings)
            if error is exc:
                raise
            raise error from exc
        logger.info(
            "training: %.1f images/s (%d images in %.1f s)",
            hooks.n_images / max(hooks.train_seconds, 1e-9),
            hooks.n_images,
            hooks.train_seconds,
        )
        return hooks.outcome

    def ultralytics_trainer(self, run, data_yaml: Path, device: Device, last: Path | None):
        """Ultralytics' trainer of the trial, continuing from `last` when given."""
        arguments = ultralytics_arguments(run.spec, run.settings, data_yaml, device)
        save_dir = run.checkpoint_dir / "ultralytics"
        arguments.update(project=str(run.checkpoint_dir), name=save_dir.name)
        if last is not None:
            # the trial folder may have moved since the checkpoint named its save_dir
            arguments.update(resume=str(last), save_dir=str(save_dir))
        trainer = ultralytics_trainer_class(run.spec["task"])(overrides=arguments)
        # Ultralytics resumes with the checkpoint's epochs; ours may be raised on resume
        trainer.epochs = trainer.args.epochs = run.settings.number_of_epochs
        return trainer

    def evaluate(self, spec: dict, state, data) -> Evaluation:
        """Called by trial.evaluate_epoch: our metrics on the EMA model."""
        from automl.engine.training._detection import clean_nested

        values, metrics = self.validation.evaluate(state.model, data.trainer.device, self.settings)
        if (
            str(spec["training_parameters"].get("log_validation_loss", "Enable")).lower()
            == "enable"
        ):
            loss = yolo_validation_loss(data.trainer, state.model)
            if loss is not None:
                values["log_loss"] = loss

        score = values.get("mean_average_precision", float("nan"))

        def details(epoch: int) -> dict:
            return clean_nested(
                {
                    "epoch": epoch,
                    "labels": self.validation.labels,
                    "per_label_metrics": metrics.per_label,
                    "pr_curves": metrics.pr_curves,
                }
            )

        keep_latest = spec["training_parameters"]["validation_metric_type"] == "none"
        return Evaluation(clean_nested(values), score, details, keep_latest=keep_latest)

    def write_plots(self, records: list[dict], details: dict, plots, primary_key: str) -> None:
        from automl.engine.training._detection import DetectionTrainer

        DetectionTrainer().write_plots(records, details, plots, primary_key)


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
