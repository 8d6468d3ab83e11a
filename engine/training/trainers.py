"""Per-task trainers: what differs between a classification and a detection trial.

The trial runner (`trial.py`) owns the epoch loop, status, checkpoints, early stopping,
study reporting and result files; a trainer, chosen by `spec["task"]`, supplies:

- `settings_class`: the dataclass of the training parameters it reads;
- `build(spec, settings, device, cancel) -> (data, state)`: data loaders (`data` has
  `train_loader`, `valid_loader`, `labels`) and the TrainingState (model, optimizer, ...);
- `train_one_epoch(state, data, on_step) -> float`: the mean training loss;
- `evaluate(spec, state, data) -> Evaluation`: validation metrics and primary score;
- `write_plots(run)`: PNG charts of the finished trial.

A trainer whose library owns the epoch loop (Ultralytics YOLO) provides
`fit(run, device, cancel) -> "complete" | "pruned"` instead of `build`/`train_one_epoch`,
and calls the runner's per-epoch functions from its callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from automl.engine.utils.registry import Registry

TRAINERS: Registry = Registry("trainer")
YOLO_TRAINER = "yolo"  # keyed by family: it serves both object tasks


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


def trainer_for(task: str, model_name: str | None = None):
    """The trainer of `task` (classification tasks share one, object tasks share one);
    Ultralytics models of the object tasks go to the YOLO trainer."""
    from automl.engine.models._yolo import is_yolo_model

    if not len(TRAINERS):  # registered lazily: the detection trainer imports torchvision
        register_trainers()
    if model_name is not None and is_yolo_model(model_name):
        return TRAINERS.get(YOLO_TRAINER)()
    return TRAINERS.get(task)()


def register_trainers() -> None:
    from automl.engine.training._classification import ClassificationTrainer
    from automl.engine.training._detection import DetectionTrainer
    from automl.engine.training._yolo import YoloTrainer

    for task in ClassificationTrainer.tasks:
        TRAINERS.add(task, ClassificationTrainer)
    for task in DetectionTrainer.tasks:
        TRAINERS.add(task, DetectionTrainer)
    TRAINERS.add(YOLO_TRAINER, YoloTrainer)
