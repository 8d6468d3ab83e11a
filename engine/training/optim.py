"""Optimizers and learning-rate schedules with Azure's formulas (docs/azure-compatibility.md §3.3,
§3.13)."""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from automl.engine.errors import TrialError
from automl.engine.training.settings import TrainingSettings

logger = logging.getLogger("automl.training")
ADAM_CLASSES = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def build_optimizer(model: nn.Module, settings: TrainingSettings) -> torch.optim.Optimizer:
    """sgd (momentum, nesterov), adam or adamw (betas, amsgrad) over trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    name = settings.optimizer
    if name == "none":  # Azure's enum has "none": the service's default optimizer
        logger.info("optimizer 'none' means the default: sgd")
        name = "sgd"
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=settings.learning_rate,
            momentum=settings.momentum,
            weight_decay=settings.weight_decay,
            nesterov=settings.nesterov and settings.momentum > 0,
        )
    adam_class = ADAM_CLASSES.get(name)
    if adam_class is None:
        raise TrialError(
            f"training_parameters.optimizer={name!r} is not supported",
            hint="use one of sgd, adam, adamw",
        )
    return adam_class(
        params,
        lr=settings.learning_rate,
        betas=(settings.beta1, settings.beta2),
        weight_decay=settings.weight_decay,
        amsgrad=settings.ams_gradient,
    )


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, cycles: float) -> float:
    """Azure's warmup_cosine LR multiplier at batch `step` (0-based).

    Linear warmup `step / warmup_steps`, then `max(0, 0.5 * (1 + cos(pi * 2 * cycles *
    progress)))` with progress = (step - warmup) / (total - warmup), capped at 1 so that
    a resumed, re-run epoch cannot climb the cosine again.
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 2.0 * cycles * progress)))


class SchedulerPlan:
    """Which scheduler runs and whether it steps per batch or per epoch."""

    def __init__(self, scheduler, per_batch: bool, steps: dict | None = None) -> None:
        self.scheduler = scheduler
        self.per_batch = per_batch
        self.steps = steps  # warmup_cosine's {"total", "per_epoch"}: set_epochs changes it

    def set_epochs(self, epochs: int) -> None:
        """A schedule of `epochs` from now on (the cosine ends with the last of them); the
        step and constant schedules do not depend on the length."""
        if self.steps is not None:
            self.steps["total"] = self.steps["per_epoch"] * epochs

    def step_batch(self) -> None:
        if self.scheduler is not None and self.per_batch:
            self.scheduler.step()

    def step_epoch(self) -> None:
        if self.scheduler is not None and not self.per_batch:
            self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


def build_scheduler(
    optimizer: torch.optim.Optimizer, settings: TrainingSettings, batches_per_epoch: int
) -> SchedulerPlan:
    """warmup_cosine (per batch step), step (StepLR per epoch) or none (constant LR)."""
    name = settings.learning_rate_scheduler
    if name == "warmup_cosine":
        warmup = batches_per_epoch * settings.warmup_cosine_lr_warmup_epochs
        steps = {
            "per_epoch": batches_per_epoch,
            "total": batches_per_epoch * settings.number_of_epochs,
        }
        cycles = settings.warmup_cosine_lr_cycles

        def factor(step: int) -> float:
            return warmup_cosine_factor(step, warmup, steps["total"], cycles)

        return SchedulerPlan(torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True, steps)
    if name == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=settings.step_lr_step_size, gamma=settings.step_lr_gamma
        )
        return SchedulerPlan(scheduler, False)
    return SchedulerPlan(None, False)


DEADLINE_MARGIN = 1.1  # an epoch is planned 10 % longer than the mean so far


def epochs_by_deadline(
    done: int, planned: int, seconds_left: float, epoch_s: float | None
) -> int | None:
    """The epochs a trial can run in all when its last must end within `seconds_left`, at
    `epoch_s` a measured epoch (DEADLINE_MARGIN more): `planned` or fewer, at least `done`;
    None when the plan stands (it fits, or nothing is measured yet)."""
    if epoch_s is None or done >= planned:
        return None
    fits = int(max(0.0, seconds_left) / (epoch_s * DEADLINE_MARGIN))
    epochs = max(done, min(planned, done + fits))
    return None if epochs == planned else epochs
