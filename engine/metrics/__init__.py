"""Metrics with Azure's names, computed with numpy (scikit-learn is only a test reference).

Public names: `classification_metrics(task, y_true, probs, loss=)`, `multiclass_metrics`,
`multilabel_metrics`, `confusion_matrix`, `classification_report`, `primary_metric_key`.
"""

from __future__ import annotations

import numpy as np

from automl.engine.metrics.classification import (
    classification_report,
    confusion_matrix,
    multiclass_metrics,
    multilabel_metrics,
)

# Primary-metric names of a job file -> the key our metric dicts use (docs/azure-compatibility.md
# §1, §8.1).
PRIMARY_METRIC_KEYS = {
    "accuracy": "accuracy",
    "iou": "iou",
    "auc_weighted": "AUC_weighted",
    "average_precision_score_weighted": "average_precision_score_weighted",
    "precision_score_weighted": "precision_score_weighted",
    "norm_macro_recall": "norm_macro_recall",
    "mean_average_precision": "mean_average_precision",
}


def primary_metric_key(name: str) -> str:
    """The metrics-dict key of a job's primary metric (`auc_weighted` -> `AUC_weighted`)."""
    return PRIMARY_METRIC_KEYS.get(name, name)


def classification_metrics(
    task: str, y_true: np.ndarray, probs: np.ndarray, *, loss: float | None = None
) -> dict[str, float]:
    """Every scalar metric of the task: multi-class (class indices + softmax) or multi-label
    (indicator matrix + sigmoid, threshold 0.5)."""
    if task == "image_classification_multilabel":
        return multilabel_metrics(y_true, probs, loss=loss)
    return multiclass_metrics(y_true, probs, loss=loss)


__all__ = [
    "classification_metrics",
    "classification_report",
    "confusion_matrix",
    "multiclass_metrics",
    "multilabel_metrics",
    "primary_metric_key",
]
