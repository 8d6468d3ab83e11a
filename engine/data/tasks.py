"""Task names as the data layer uses them (Azure's `task:` values)."""

from __future__ import annotations

from automl.engine.errors import UsageError

MULTICLASS = "image_classification"
MULTILABEL = "image_classification_multilabel"
DETECTION = "image_object_detection"
SEGMENTATION = "image_instance_segmentation"
TASKS = (MULTICLASS, MULTILABEL, DETECTION, SEGMENTATION)
OBJECT_TASKS = (DETECTION, SEGMENTATION)


def check_task(task: str) -> str:
    """Return `task` if it is one of the four image tasks, else raise a UsageError."""
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; use one of: {', '.join(TASKS)}")
    return task
