"""Our training loop: `fit_epochs` runs the epochs of every `EpochTrainer` (resume,
cancelation, last.pt, the per-epoch hooks), and the pieces of a classification trial,
split as torchvision's reference scripts are: build_dataloaders, build_trial_model,
train_one_epoch, evaluate."""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from automl import schemas
from automl.engine.data.datasets import ClassificationDataset
from automl.engine.data.manifest import read_manifest
from automl.engine.errors import TrialError
from automl.engine.models import ModelSpec, build_model, freeze_layer_groups
from automl.engine.training import checkpoints, distributed
from automl.engine.training.distributed import current, distributed_sampler
from automl.engine.training.hooks import EpochHooks
from automl.engine.training.settings import (
    CommonTrainingSettings,
    TrainingSettings,
    augmentation_settings,
)
from automl.engine.training.trainers import EpochTrainer, TrialInputs

logger = logging.getLogger("automl.training")
trial_logger = logging.getLogger("automl.trial")  # the epoch loop's lines, as before


class CanceledByUser(Exception):
    """SIGTERM or SIGINT arrived; the trial stops at the next batch."""


@dataclass
class Device:
    """Where the trial runs and how: AMP and channels_last on CUDA only."""

    torch_device: torch.device
    amp_dtype: torch.dtype | None = None

    @classmethod
    def from_name(cls, name: str) -> Device:
        if name != "cuda":
            return cls(torch.device("cpu"))
        if not torch.cuda.is_available():
            raise TrialError("spec.json asks for device 'cuda' but CUDA is not available")
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return cls(torch.device("cuda"), dtype)

    @property
    def is_cuda(self) -> bool:
        return self.torch_device.type == "cuda"

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def images(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.torch_device, non_blocking=True)
        return batch.contiguous(memory_format=torch.channels_last) if self.is_cuda else batch


def seed_everything(seed: int | None, *, fixed_input_size: bool = True) -> None:
    """random_seed: Python, numpy and torch RNGs, and deterministic cuDNN.

    Without a seed, cuDNN may pick the fastest kernels, but only for fixed input sizes: with
    detection's variable image sizes every new shape would be benchmarked again.
    """
    if seed is None:
        torch.backends.cudnn.benchmark = fixed_input_size
    else:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    if torch.cuda.is_available():  # the settings a GPU trial's speed depends on, in its log
        logger.info(
            "cudnn: benchmark=%s deterministic=%s",
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
        )


def worker_init(worker_id: int) -> None:
    """Data workers ignore SIGTERM/SIGINT (the main process shuts them down when it stops)
    and get distinct numpy/random seeds derived from torch's per-worker seed."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def effective_workers(requested: int) -> int:
    """number_of_workers capped at the CPU count (logged when capped)."""
    available = os.cpu_count() or 1
    if requested > available:
        logger.info(
            "number_of_workers=%d capped at %d (the CPU count of this machine)",
            requested,
            available,
        )
        return available
    return requested


@dataclass
class TrialData:
    train_records: list[dict]
    valid_records: list[dict]
    labels: list[str]
    train_loader: DataLoader
    valid_loader: DataLoader


def build_dataloaders(
    trial: TrialInputs, settings: TrainingSettings, model_spec: ModelSpec, device: Device
) -> TrialData:
    """Datasets over the trial's manifests with the task's single preprocessing definition."""
    labels = list(trial.labels)
    multilabel = trial.task.multilabel
    train_records = read_manifest(trial.train_manifest)
    valid_records = read_manifest(trial.valid_manifest)
    mean, std = model_spec.mean, model_spec.std
    preprocessing = trial.task.preprocessing
    augmentation = augmentation_settings(settings, trial.task.name)
    train_tf = preprocessing.train(settings.training_crop_size, mean, std, **augmentation)
    valid_tf = preprocessing.valid(
        settings.validation_resize_size, settings.validation_crop_size, mean, std
    )
    workers = effective_workers(settings.number_of_workers)
    train_set = ClassificationDataset(train_records, labels, train_tf, multilabel)
    valid_set = ClassificationDataset(valid_records, labels, valid_tf, multilabel)
    batch = settings.training_batch_size  # per process in a distributed trial
    common = loader_options(workers, device, settings.random_seed)
    sampler = distributed_sampler(train_set, settings.random_seed)  # this rank's shard
    n_seen = len(sampler) if sampler is not None else len(train_set)
    train_loader = DataLoader(
        train_set,
        batch_size=batch,
        shuffle=sampler is None,
        sampler=sampler,
        # a last batch of one image breaks BatchNorm in training mode
        drop_last=n_seen % batch == 1 and n_seen > batch,
        **common,
    )
    valid_loader = DataLoader(valid_set, batch_size=settings.validation_batch_size, **common)
    return TrialData(train_records, valid_records, labels, train_loader, valid_loader)


def loader_options(workers: int, device: Device, seed: int | None) -> dict:
    options: dict = {"num_workers": workers, "pin_memory": device.is_cuda}
    if workers > 0:
        options.update(worker_init_fn=worker_init, persistent_workers=True)
    if seed is not None:
        options["generator"] = torch.Generator().manual_seed(seed)
    return options


def build_trial_model(
    trial: TrialInputs, settings: TrainingSettings, model_spec: ModelSpec, device: Device
) -> nn.Module:
    """Registry model with the trial's head, optional frozen layer groups, on the device."""
    if model_spec.fixed_crop_size and settings.validation_crop_size != settings.training_crop_size:
        default = schemas.task_default(trial.task.name, "training_crop_size")
        raise TrialError(
            f"model {model_spec.name!r} needs validation_crop_size == training_crop_size, got "
            f"{settings.validation_crop_size} and {settings.training_crop_size}",
            hint=f"set both to the same value ({default} by default)",
        )
    model = build_model(
        settings.model_name,
        len(trial.labels),
        pretrained=settings.pretrained,
        crop_size=settings.training_crop_size,
    )
    start_from_checkpoint(model, trial, settings.model_name)
    if settings.layers_to_freeze:
        frozen = freeze_layer_groups(model, model_spec, settings.layers_to_freeze)
        logger.info(
            "layers_to_freeze=%d: %d tensors frozen", settings.layers_to_freeze, len(frozen)
        )
    model = model.to(device.torch_device)
    if device.is_cuda:
        model = model.to(memory_format=torch.channels_last)
    return model


def start_from_checkpoint(model: nn.Module, trial: TrialInputs, model_name: str) -> None:
    """Load the trial's checkpoint_run_id / checkpoint_model weights into `model`, if set
    (engine/training/incremental.py; a changed head is adapted to the trial's labels)."""
    from automl.engine.training.incremental import checkpoint_package, load_package_weights

    found = checkpoint_package(trial.training_parameters, trial.run_dir)
    if found is not None:
        where, folder = found
        load_package_weights(model, folder, model_name, list(trial.labels), where)


def load_initial_weights(
    model: nn.Module, reference: str, model_name: str, labels: list[str] | None = None
) -> None:
    """checkpoint_run_id (incremental training): start from a model package's weights.

    `reference` is a job name (its best model), `job/trial`, a run directory or a package
    folder; see engine/training/incremental.py, which also adapts a changed head.
    """
    from automl.engine.training.incremental import checkpoint_package, load_package_weights

    where, folder = checkpoint_package({"checkpoint_run_id": reference})
    load_package_weights(model, folder, model_name, labels, where)


@dataclass
class TrainingState:
    """What train_one_epoch and evaluate need, built once per trial."""

    model: nn.Module
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object  # optim.SchedulerPlan
    scaler: torch.amp.GradScaler
    device: Device
    settings: TrainingSettings
    grad_clip: tuple[str, float]
    multilabel: bool
    canceled: Callable[[], bool] = lambda: False
    ddp_model: nn.Module | None = None  # DDP around `model` in a distributed trial
    epoch_speed: dict = field(default_factory=dict)  # the last epoch's seconds, images/s


def out_of_memory_error(settings: TrainingSettings, which: str) -> TrialError:
    size = getattr(settings, which)
    return TrialError(
        f"CUDA ran out of memory with {which}={size} for model {settings.model_name}",
        hint=f"try {which}={max(1, size // 2)} (with gradient_accumulation_step doubled to "
        "keep the effective batch), or a smaller training_crop_size",
    )


def optimizer_step(state: TrainingState) -> None:
    """Unscale (AMP), clip as Azure's runtime does (value 5.0; ViT norm 1.0), step."""
    state.scaler.unscale_(state.optimizer)
    params = [p for p in state.model.parameters() if p.grad is not None]
    kind, limit = state.grad_clip
    if kind == "norm":
        nn.utils.clip_grad_norm_(params, limit)
    else:
        nn.utils.clip_grad_value_(params, limit)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.optimizer.zero_grad(set_to_none=True)


def classification_batch_loss(state: TrainingState, model: nn.Module, batch) -> torch.Tensor:
    """The classification loss of one batch (images and targets moved to the device)."""
    images, targets = batch
    images = state.device.images(images)
    targets = targets.to(state.device.torch_device, non_blocking=True)
    with state.device.autocast():
        return state.loss_fn(model(images), targets)


def train_one_epoch(
    state: TrainingState,
    loader: DataLoader,
    on_step: Callable[[int, int, Callable], None],
    batch_loss: Callable[[TrainingState, nn.Module, object], torch.Tensor] = (
        classification_batch_loss
    ),
) -> float:
    """One pass over the training data; returns the mean training loss per image.

    `batch_loss(state, model, batch)` is the task's loss of one batch (the only part that
    differs between tasks). `on_step(step, n_steps, running_loss)` is called after every
    batch; `running_loss()` syncs with the device, so the callback calls it only when it
    writes status.
    """
    state.model.train()
    model = state.ddp_model or state.model  # DDP syncs gradients in backward
    accumulate = state.settings.gradient_accumulation_step
    n_steps = len(loader)
    loss_sum = torch.zeros((), device=state.device.torch_device)
    n_seen, started = 0, time.monotonic()
    state.optimizer.zero_grad(set_to_none=True)
    for step, batch in enumerate(loader, 1):
        if state.canceled():
            raise CanceledByUser
        loss = batch_loss(state, model, batch)
        state.scaler.scale(loss / accumulate).backward()
        if step % accumulate == 0 or step == n_steps:
            optimizer_step(state)
        state.scheduler.step_batch()
        n_images = len(batch[0])
        loss_sum += loss.detach() * n_images
        if step % finite_check_every(state.device) == 0 or step == n_steps:
            check_finite(loss_sum, step)
        n_seen += n_images
        on_step(step, n_steps, lambda total=loss_sum, n=n_seen: (total / n).item())
    state.scheduler.step_epoch()
    mean_loss = (loss_sum / max(n_seen, 1)).item()  # waits for the device's last step
    state.epoch_speed = epoch_speed(time.monotonic() - started, n_seen)
    return mean_loss


def epoch_speed(seconds: float, n_images: int) -> dict:
    """One training epoch's throughput; in a distributed trial each process trains its own
    shard in the same time, so every process counts for as many images as this one."""
    images = n_images * current().world_size
    return {"seconds": round(seconds, 3), "images_per_s": round(images / max(seconds, 1e-9), 1)}


# Steps between two checks of the running loss on a GPU: each check waits for the device, so
# checking every step would stall the pipeline; on the CPU a check costs nothing.
GPU_FINITE_CHECK_STEPS = 32


def finite_check_every(device: Device) -> int:
    return GPU_FINITE_CHECK_STEPS if device.is_cuda else 1


def check_finite(loss_sum: torch.Tensor, step: int) -> None:
    """A NaN or infinite loss ends the trial with a fix, instead of training on garbage.
    `loss_sum` is the epoch's running sum: one non-finite batch loss makes it non-finite,
    so a check every few steps still catches every one."""
    if not torch.isfinite(loss_sum):
        raise TrialError(
            f"the training loss became {loss_sum.item()} by step {step}",
            hint="lower learning_rate (e.g. by 10x) or use warmup_cosine with more warmup epochs",
        )


@torch.inference_mode()
def evaluate(state: TrainingState, loader: DataLoader) -> tuple[float, np.ndarray, np.ndarray]:
    """Validation pass: (mean loss, targets, probabilities) — softmax or sigmoid."""
    state.model.eval()
    losses, all_targets, all_probs, n_seen = [], [], [], 0
    for images, targets in loader:
        if state.canceled():
            raise CanceledByUser
        images = state.device.images(images)
        targets = targets.to(state.device.torch_device, non_blocking=True)
        with state.device.autocast():
            logits = state.model(images).float()
        losses.append(state.loss_fn(logits, targets) * len(images))
        n_seen += len(images)
        probs = torch.sigmoid(logits) if state.multilabel else torch.softmax(logits, dim=1)
        all_probs.append(probs.cpu())
        all_targets.append(targets.cpu())
    loss = (torch.stack(losses).sum() / max(n_seen, 1)).item()
    return loss, torch.cat(all_targets).numpy(), torch.cat(all_probs).double().numpy()


# ---- the epoch loop of every EpochTrainer ----------------------------------------------


def fit_epochs(
    trainer: EpochTrainer,
    trial: TrialInputs,
    settings: CommonTrainingSettings,
    hooks: EpochHooks,
    device: Device,
    cancel: Callable[[], bool],
) -> str:
    """Build, resume from last.pt when asked, run the epochs; "complete" or "pruned".
    A cancel saves last.pt (rank 0) at the moment it arrives and raises CanceledByUser."""
    data, state = trainer.build(trial, settings, device, cancel)
    run = hooks.run
    first_epoch = checkpoints.resume_if_asked(run, state)
    try:
        return train_epochs(trainer, hooks, state, data, first_epoch)
    except CanceledByUser:
        if distributed.is_main():
            save_last(run, state, run.epochs_completed, interrupted=True)
        raise
    finally:
        close_loaders(data)


def train_epochs(trainer: EpochTrainer, hooks: EpochHooks, state, data, first_epoch: int) -> str:
    """The epoch loop; returns the final state ("complete" or "pruned")."""
    run = hooks.run
    main = distributed.is_main()
    epoch = first_epoch - 1
    while epoch < run.settings.number_of_epochs:  # fit_to_deadline may shorten it
        epoch += 1
        train_loss = run_epoch(trainer, hooks, state, data, epoch)
        score, pruned = None, False
        if hooks.should_evaluate(epoch) and main:
            lr = state.optimizer.param_groups[0]["lr"]
            evaluation = trainer.evaluate(state, data)
            score, pruned = hooks.record_evaluation(
                epoch, evaluation, state.model, data.labels, train_loss, lr
            )
        hooks.finish_epoch(epoch, state.model, data.labels)
        if main:
            save_last(run, state, epoch)
        hooks.log_epoch(epoch, train_loss, score)
        hooks.fit_to_deadline(epoch, state.scheduler)
        # Rank 0 decides; every rank stops at the same epoch (no rank left in a collective).
        pruned, stop = distributed.broadcast_flags(pruned, hooks.stop_requested)
        if pruned:
            trial_logger.info("pruned by the study's pruner after epoch %d", epoch)
            return "pruned"
        if stop:
            trial_logger.info("early stopping after epoch %d (no improvement)", epoch)
            break
    return "complete"


def run_epoch(trainer: EpochTrainer, hooks: EpochHooks, state, data, epoch: int) -> float:
    """Train one epoch with live status; return the training loss (mean over ranks)."""
    hooks.begin_epoch()

    def on_step(step: int, n_steps: int, running_loss) -> None:
        hooks.on_step(epoch, step, n_steps, running_loss)

    distributed.set_loader_epoch(data.train_loader, epoch)
    try:
        loss = trainer.train_one_epoch(state, data, on_step)
        hooks.speed = getattr(state, "epoch_speed", {})
        return distributed.mean_across_ranks(loss)
    except torch.OutOfMemoryError as exc:
        raise out_of_memory_error(hooks.run.settings, "training_batch_size") from exc
    finally:
        trial_logger.debug("epoch %d/%d trained", epoch, hooks.run.settings.number_of_epochs)


def save_last(run, state: TrainingState, epoch: int, interrupted: bool = False) -> None:
    """checkpoints/last.pt after `epoch` completed epochs (see checkpoints.save_last)."""
    checkpoints.save_last(
        run.checkpoint_dir,
        state=state,
        epoch=epoch,
        stopper=run.stopper,
        elapsed_s=run.elapsed_s,
        training_parameters=run.inputs.training_parameters,
        interrupted=interrupted,
    )


def close_loaders(data) -> None:
    """Stop persistent data workers now, through their queues.

    The workers ignore SIGTERM (so a signal to the trial's process group cannot kill them
    under the main process mid-batch); left to interpreter exit, multiprocessing would
    SIGTERM and then join them forever.
    """
    for loader in (data.train_loader, data.valid_loader):
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None:
            iterator._shutdown_workers()
            loader._iterator = None
