"""The trainer contract and the table that picks a trial's trainer.

A trial's trainer is looked up by (task kind, model runtime) (`adapter_key`, e.g.
"detection/ultralytics"), as Ultralytics' `task_map` maps a task to its trainer: the
task gives the kind (engine/tasks), the model the runtime (engine/models). The trial
runner (`trial.py`) builds the trainer's `TrialInputs` from spec.json, parses the training
parameters with the trainer's `settings_class`, and calls `fit`. Every trainer reports
through the run's `EpochHooks` (engine/training/hooks.py).

Two kinds of trainers:
- `EpochTrainer`: our loop runs the epochs (`loop.fit_epochs`); the trainer supplies
  `build`, `train_one_epoch` and `evaluate` (classification and the torchvision detectors);
- a `Trainer` whose library owns the loop implements `fit` itself and calls the hooks from
  the library's callbacks (Ultralytics YOLO).

A new model family with its own loop, or a new task kind, registers its trainer with
`register_trainer(kind, runtime, trainer_class)`; nothing here changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from automl.engine.tasks import TaskDescriptor, adapter_key, get_task
from automl.engine.training.settings import CommonTrainingSettings
from automl.engine.trials import TrialSpec
from automl.engine.utils.lazy import LazyRef, resolve
from automl.engine.utils.registry import Registry

if TYPE_CHECKING:
    from automl.engine.training.hooks import EpochHooks
    from automl.engine.training.loop import Device


@dataclass
class Evaluation:
    """One validation pass: scalar metrics for metrics.jsonl, the primary score, and
    `details(epoch)`, the best-epoch report for result.json (computed only when needed).
    `keep_latest`: no score is computed (validation_metric_type none), so the latest
    evaluated model is the one kept."""

    metrics: dict
    score: float
    details: Callable[[int], dict]
    keep_latest: bool = False


@dataclass(frozen=True)
class TrialInputs:
    """What a trainer reads of its trial; trainers never read spec.json themselves.

    `labels` in index order; `training_parameters` the complete effective set (what the
    model package records); `primary_metric` the job's metric name; `run_dir` the job's run
    folder (incremental training looks beside it); `resume` continue from checkpoints/.
    """

    task: TaskDescriptor
    labels: list[str]
    train_manifest: Path
    valid_manifest: Path
    training_parameters: dict
    primary_metric: str
    trial_dir: Path
    run_dir: Path | None = None
    resume: bool = False

    @classmethod
    def from_spec(cls, spec: TrialSpec | Mapping) -> TrialInputs:
        """The inputs of a trial's spec (the one place trainers' inputs are read from it):
        a TrialSpec, or spec.json's dictionary (read through TrialSpec)."""
        if isinstance(spec, Mapping):
            spec = TrialSpec.from_dict(spec)
        data = spec.data
        return cls(
            task=get_task(spec.task),
            labels=list(data.labels),
            train_manifest=Path(data.train_manifest),
            valid_manifest=Path(data.valid_manifest),
            training_parameters=spec.training_parameters,
            primary_metric=spec.primary_metric,
            trial_dir=Path(spec.trial_dir),
            run_dir=Path(spec.run_dir) if spec.run_dir else None,
            resume=bool(spec.resume),
        )

    @property
    def model_name(self) -> str | None:
        return self.training_parameters.get("model_name")


class Trainer(ABC):
    """Trains one trial of a (task kind, model runtime); see the module docstring."""

    settings_class: ClassVar[type[CommonTrainingSettings]]

    @abstractmethod
    def fit(
        self,
        trial: TrialInputs,
        settings: CommonTrainingSettings,
        hooks: EpochHooks,
        device: Device,
        cancel: Callable[[], bool],
    ) -> str:
        """Train; return "complete" or "pruned". Raise CanceledByUser once `cancel()` is
        true (checkpoints saved); call `hooks` around every epoch."""


class EpochTrainer(Trainer):
    """A trainer whose epochs our loop runs: it builds the data and training state, trains
    one epoch and evaluates; `loop.fit_epochs` does the rest (resume, checkpoints, hooks)."""

    @abstractmethod
    def build(
        self, trial: TrialInputs, settings: CommonTrainingSettings, device: Device, cancel
    ) -> tuple[Any, Any]:
        """(data, state): data has `train_loader`, `valid_loader` and `labels`; state is the
        TrainingState (model, optimizer, scheduler, scaler, ...)."""

    @abstractmethod
    def train_one_epoch(self, state: Any, data: Any, on_step) -> float:
        """One pass over the training data; the mean training loss. `on_step(step,
        n_steps, running_loss)` after every batch."""

    @abstractmethod
    def evaluate(self, state: Any, data: Any) -> Evaluation:
        """Validation metrics and the primary score of the current model."""

    def fit(self, trial, settings, hooks, device, cancel) -> str:
        from automl.engine.training.loop import fit_epochs

        return fit_epochs(self, trial, settings, hooks, device, cancel)


TRAINERS: Registry[type[Trainer] | LazyRef] = Registry("trainer (task kind/model runtime)")


def register_trainer(kind: str, runtime: str, trainer: type[Trainer] | LazyRef) -> None:
    """Add the trainer of `runtime` models for tasks of `kind` (a class, or a LazyRef to one
    so that the lookup table imports nothing); a duplicate raises."""
    TRAINERS.add(adapter_key(kind, runtime), trainer)


def trainer_for(task: str, model_name: str | None = None) -> Trainer:
    """A new trainer of `task` for `model_name` (the task's default model when None)."""
    from automl import schemas
    from automl.engine.models import get_model_spec

    runtime = get_model_spec(model_name or schemas.default_model(task)).runtime
    trainer_class = resolve(TRAINERS.get(adapter_key(get_task(task).kind, runtime)))
    return trainer_class()


def _register_builtin_trainers() -> None:
    # LazyRefs: the detection trainers import torchvision, the YOLO one Ultralytics' adapter
    classification = LazyRef("automl.engine.training._classification:ClassificationTrainer")
    detection = LazyRef("automl.engine.training._detection:DetectionTrainer")
    yolo = LazyRef("automl.engine.training._yolo:YoloTrainer")
    hf_detection = LazyRef("automl.engine.training._hf_detection:HfDetectionTrainer")
    register_trainer("classification", "torch", classification)
    register_trainer("classification", "transformers", classification)  # hub-id classifiers
    for kind in ("detection", "segmentation"):
        register_trainer(kind, "torch", detection)
        register_trainer(kind, "ultralytics", yolo)
        register_trainer(kind, "transformers", hf_detection)


_register_builtin_trainers()
