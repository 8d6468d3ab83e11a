"""Calibration: a few training and validation batches of one trial configuration, timed
on the device the job would use, through the trial's own trainer (looked up by task kind
and model runtime, engine/training/trainers.py: the same dataloaders, model and loss).

A trainer whose library owns the loop (Ultralytics YOLO) cannot be run for a few batches
cheaply: its cost comes from `estimated_cost`, a fixed throughput table (documented in
README; expect an error up to ~3x), and the plan says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("automl.plan")

TRAIN_BATCHES = 4  # the first is warm-up; the others are timed
VALID_BATCHES = 2
PROCESS_START_S = 1.0  # a trial process's interpreter start, before its imports
CALIBRATION_LIMIT = "plan_calibration_seconds"


@dataclass(frozen=True)
class EpochCost:
    """What one configuration costs here: seconds per training epoch, per validation pass,
    and once per trial (process start, imports, model build, first batch)."""

    train_s: float
    valid_s: float
    overhead_s: float
    calibrated: bool = True
    batches: int = 0  # training batches timed
    note: str | None = None


class _Enough(Exception):
    """Raised from the step callback once enough batches were timed."""


class _Head:
    """The first `n` batches of a loader, as a loader (len, iteration)."""

    def __init__(self, loader, n: int) -> None:
        self.loader, self.n = loader, min(n, len(loader))
        self.dataset = getattr(loader, "dataset", None)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for index, batch in enumerate(self.loader):
            if index >= self.n:
                return
            yield batch


def calibrate(
    config: dict,
    trial_context: dict,
    device_name: str,
    deadlines: tuple[float, float],
    limit_s: float | None = None,
) -> EpochCost:
    """Time `config` (resolved training parameters) on `device_name`: at least two
    training batches, more until the first of `deadlines` (time.monotonic()); stopped at
    the second (the end of the calibration's `limit_s`), an error when not even one batch
    was done by then. `trial_context`: task, labels, manifests, primary_metric."""
    from automl.engine.training.trainers import EpochTrainer, trainer_for

    trainer = trainer_for(trial_context["task"], config.get("model_name"))
    if not isinstance(trainer, EpochTrainer):
        return estimated_cost(config, trial_context, device_name)
    with tempfile.TemporaryDirectory(prefix="automl-plan-") as folder:
        inputs = _inputs(config, trial_context, Path(folder))
        return _time_batches(trainer, inputs, device_name, deadlines, limit_s)


def _inputs(config: dict, context: dict, folder: Path):
    from automl.engine.tasks import get_task
    from automl.engine.training.trainers import TrialInputs

    # Random weights time the same as pretrained ones and need no download; a checkpoint
    # to start from is not read either.
    parameters = {**config, "pretrained": False}
    for key in ("checkpoint_run_id", "checkpoint_model", "checkpoint_filename"):
        parameters.pop(key, None)
    return TrialInputs(
        task=get_task(context["task"]),
        labels=list(context["labels"]),
        train_manifest=Path(context["train_manifest"]),
        valid_manifest=Path(context["valid_manifest"]),
        training_parameters=parameters,
        primary_metric=context["primary_metric"],
        trial_dir=folder,
    )


def _time_batches(trainer, inputs, device_name: str, deadlines: tuple, limit_s: float | None):
    from automl.engine.training.loop import Device, close_loaders

    settings = trainer.settings_class.from_parameters(inputs.training_parameters)
    device = Device.from_name(device_name)
    started = time.monotonic()
    data, state = trainer.build(inputs, settings, device, lambda: time.monotonic() > deadlines[1])
    built = time.monotonic()
    try:
        steps = _train_steps(trainer, state, data, deadlines[0])
        if len(steps) < 2:
            raise _too_slow(settings.model_name, limit_s)
        valid_s = _valid_seconds(trainer, state, data)
    finally:
        close_loaders(data)
    return _cost(steps, len(data.train_loader), valid_s, built - started)


def _too_slow(model: str, limit_s: float | None) -> Exception:
    from automl import schemas
    from automl.engine.errors import LimitError

    limit_s = schemas.limit(CALIBRATION_LIMIT) if limit_s is None else limit_s
    return LimitError(
        f"calibrating {model}: not one training batch was done within the calibration's "
        f"time limit ({limit_s:g} s)",
        hint=schemas.limit_hint(CALIBRATION_LIMIT),
    )


def _train_steps(trainer, state, data, deadline: float) -> list[float]:
    """The time.monotonic() at the start and after each timed training batch."""
    from automl.engine.training.loop import CanceledByUser

    marks = [time.monotonic()]

    def on_step(step: int, n_steps: int, running_loss) -> None:
        running_loss()  # waits for the device: the batch is really done
        marks.append(time.monotonic())
        if step >= TRAIN_BATCHES or (step >= 2 and time.monotonic() > deadline):
            raise _Enough

    with contextlib.suppress(_Enough, CanceledByUser):
        trainer.train_one_epoch(state, data, on_step)
    return marks


def _valid_seconds(trainer, state, data) -> float:
    """One validation pass: a few batches timed, scaled to the validation loader."""
    loader = data.valid_loader
    head = _Head(loader, VALID_BATCHES)
    started = time.monotonic()
    try:
        trainer.evaluate(state, dataclasses.replace(data, valid_loader=head))
    except Exception as error:  # metrics of a few batches may be undefined: time anyway
        logger.debug("calibration: validation of %d batches: %s", head.n, error)
    seconds = time.monotonic() - started
    return seconds * len(loader) / max(head.n, 1)


def _cost(marks: list[float], n_train_batches: int, valid_s: float, build_s: float) -> EpochCost:
    timed = len(marks) - 1
    first = marks[1] - marks[0] if timed else 0.0
    per_batch = (marks[-1] - marks[1]) / (timed - 1) if timed >= 2 else first
    return EpochCost(
        train_s=per_batch * n_train_batches,
        valid_s=valid_s,
        overhead_s=build_s + max(0.0, first - per_batch),
        batches=timed,
    )


# ---- a family that cannot be calibrated cheaply: a documented estimate ------------------

# Training images per second at 640 px of a YOLO model_size "medium" (one recent data-centre
# GPU; one 8-core CPU), scaled by model size and by the image area.
YOLO_IMAGES_PER_S = {"cuda": 120.0, "cpu": 1.5}
YOLO_SIZE_FACTOR = {"nano": 4.0, "small": 2.0, "medium": 1.0, "large": 0.6, "xlarge": 0.35}
YOLO_OVERHEAD_S = 10.0  # Ultralytics' dataset and trainer set-up
VALIDATION_SPEEDUP = 3.0  # a validation image costs about a third of a training one


def estimated_cost(config: dict, context: dict, device_name: str) -> EpochCost:
    """A trainer that owns its loop: seconds from the throughput table above."""
    size = int(config.get("image_size") or 640)
    factor = YOLO_SIZE_FACTOR.get(str(config.get("model_size") or "medium"), 1.0)
    per_s = YOLO_IMAGES_PER_S["cuda" if device_name == "cuda" else "cpu"]
    per_s *= factor * (640.0 / size) ** 2
    return EpochCost(
        train_s=context["n_train"] / per_s,
        valid_s=context["n_valid"] / (per_s * VALIDATION_SPEEDUP),
        overhead_s=YOLO_OVERHEAD_S,
        calibrated=False,
        note=f"{config.get('model_name')}: not calibrated (its library runs the epochs); "
        "estimated from a fixed throughput table, expect an error up to ~3x",
    )
