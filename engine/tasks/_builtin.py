"""The four tasks of Azure AutoML for images, registered at import."""

from __future__ import annotations

from automl import schemas
from automl.engine.tasks._base import Preprocessing, TaskDescriptor, register_task
from automl.engine.utils.lazy import LazyRef

_CLASSIFICATION_PREPROCESSING = Preprocessing(
    train=LazyRef("automl.engine.tasks.classification:build_train_transform"),
    valid=LazyRef("automl.engine.tasks.classification:build_valid_transform"),
)
_OBJECT_PREPROCESSING = Preprocessing(
    train=LazyRef("automl.engine.tasks.detection:build_detection_train_transform"),
    valid=LazyRef("automl.engine.tasks.detection:build_detection_valid_transform"),
)
_CLASSIFICATION_METRICS = LazyRef("automl.engine.metrics:classification_metrics")
_OBJECT_METRICS = LazyRef("automl.engine.metrics.detection:DetectionEvaluator")
_CLASSIFICATION_PLOTS = LazyRef("automl.engine.tasks._plots:write_classification_plots")
_OBJECT_PLOTS = LazyRef("automl.engine.tasks._plots:write_object_plots")


def classification_task(name: str, short_name: str, multilabel: bool) -> TaskDescriptor:
    return TaskDescriptor(
        name=name,
        short_name=short_name,
        kind="classification",
        default_metric=schemas.default_primary_metric(name),
        preprocessing=_CLASSIFICATION_PREPROCESSING,
        evaluator=_CLASSIFICATION_METRICS,
        plots=_CLASSIFICATION_PLOTS,
        multilabel=multilabel,
        fixed_input_size=True,
    )


def object_task(name: str, short_name: str, kind: str, *, masks: bool) -> TaskDescriptor:
    return TaskDescriptor(
        name=name,
        short_name=short_name,
        kind=kind,
        default_metric=schemas.default_primary_metric(name),
        preprocessing=_OBJECT_PREPROCESSING,
        evaluator=_OBJECT_METRICS,
        plots=_OBJECT_PLOTS,
        objects=True,
        masks=masks,
        tiling=not masks,  # Azure tiles object detection only
    )


def register_builtin_tasks() -> None:
    """The schema's `task` enum must list exactly these (tests/tasks/test_task_registry.py)."""
    register_task(classification_task("image_classification", "cls", multilabel=False))
    register_task(classification_task("image_classification_multilabel", "mlcls", multilabel=True))
    register_task(object_task("image_object_detection", "det", "detection", masks=False))
    register_task(object_task("image_instance_segmentation", "seg", "segmentation", masks=True))


register_builtin_tasks()
