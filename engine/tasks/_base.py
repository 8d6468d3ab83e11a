"""The task descriptor and the task registry: what the engine knows about each task.

A task is looked up by its Azure name (`get_task("image_object_detection")`) and answers
every question code used to ask of the name itself: its short name and kind, whether its
labels are multi-label or objects with masks, whether it tiles, its default primary metric
(from the schema), its preprocessing, its metrics and its charts. Trainers and predictors
are not part of it: they are looked up by (task kind, model runtime) in the training and
prediction tables (engine/training/trainers.py, engine/predict/_base.py), so one task serves
every model family and one family every task it supports.

Importing this module imports neither torch nor the adapters: the built-in tasks name them
with `LazyRef`s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automl.engine.utils.registry import Registry

# A transform builder, metrics entry point or chart writer: the built-in tasks name theirs
# with a LazyRef (engine/utils/lazy.py), so nothing heavy is imported until it is called.
Adapter = Callable[..., Any]


@dataclass(frozen=True)
class Preprocessing:
    """A task's one definition of its pixels (engine/tasks/classification.py, detection.py):
    `train` and `valid` build the training and the validation/inference transforms; their
    arguments are the kind's (crop sizes and normalisation for classification, the
    augmentation switch for detection), which the kind's trainers and predictors pass."""

    train: Adapter
    valid: Adapter


@dataclass(frozen=True)
class TaskDescriptor:
    """One task (`image_classification`, ...): its facts and its task-level adapters.

    - `name`: the job file's `task` value (Azure's); `short_name`: cls, mlcls, det, seg.
    - `kind`: classification, detection or segmentation; trainers and predictors are
      registered per (kind, runtime), so tasks of one kind share them.
    - `multilabel`: several classes per image (sigmoid scores, threshold at inference).
    - `objects`: labels are objects (boxes, polygons) rather than classes of the image;
      `masks`: the objects carry instance masks.
    - `tiling`: small-object tiling applies (`tile_grid_size`).
    - `fixed_input_size`: every batch has one input size (cuDNN may benchmark kernels).
    - `default_metric`: the primary metric when the job names none (the schema's first).
    - `preprocessing`: the transforms; `evaluator`: what computes the task's metrics
      (`classification_metrics(task, y_true, probs)` or `DetectionEvaluator`); `plots`:
      `write_plots(records, details, plots_dir, primary_key)`, the charts of a finished trial.
    """

    name: str
    short_name: str
    kind: str
    default_metric: str
    preprocessing: Preprocessing
    evaluator: Adapter
    plots: Adapter
    multilabel: bool = False
    objects: bool = False
    masks: bool = False
    tiling: bool = False
    fixed_input_size: bool = False


TASKS: Registry[TaskDescriptor] = Registry("task")


def register_task(task: TaskDescriptor) -> TaskDescriptor:
    """Add `task` to the registry (a duplicate name or short name raises)."""
    if any(TASKS.get(name).short_name == task.short_name for name in TASKS):
        raise ValueError(f"duplicate task short name {task.short_name!r}: already registered")
    TASKS.add(task.name, task)
    return task


def get_task(name: str) -> TaskDescriptor:
    """The descriptor of task `name`; an unknown name raises RegistryError with the closest
    matches."""
    return TASKS.get(name)


def task_names() -> list[str]:
    """Registered task names, sorted."""
    return TASKS.names()


def adapter_key(kind: str, runtime: str) -> str:
    """The key of the trainer and predictor tables: "<task kind>/<model runtime>", e.g.
    "detection/ultralytics" (Ultralytics' `task_map`, keyed by our kinds and runtimes)."""
    return f"{kind}/{runtime}"


def tasks_of_kind(kind: str) -> list[str]:
    """Registered task names of one kind (e.g. both classification tasks), sorted."""
    return [name for name in TASKS if TASKS.get(name).kind == kind]
