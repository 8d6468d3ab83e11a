"""Classification metrics with Azure's names (docs/azure-compatibility.md §8.1, §8.2), numpy only.

Definitions follow scikit-learn (which Azure's scoring library calls); tests compare
against it on fixed inputs. Conventions: a ratio with a zero denominator is 0 (sklearn's
`zero_division=0`); multi-class macro averages run over the classes present in the true or
predicted labels (sklearn's default), multi-label over every label column; AUC and average
precision leave out classes where they are undefined (no positive, or no negative).
"""

from __future__ import annotations

import numpy as np

from automl.engine.metrics._ranking import (
    average_binary_metric,
    average_precision_binary,
    roc_auc_binary,
)

AVERAGES = ("macro", "micro", "weighted")
MULTILABEL_THRESHOLD = 0.5


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """C x C counts, rows = true class, columns = predicted class."""
    flat = np.asarray(y_true) * n_classes + np.asarray(y_pred)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_counts(truth: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """tp, fp, fn and support per column of two indicator matrices (N x C)."""
    truth = truth.astype(bool)
    pred = pred.astype(bool)
    return {
        "tp": (truth & pred).sum(axis=0),
        "fp": (~truth & pred).sum(axis=0),
        "fn": (truth & ~pred).sum(axis=0),
        "support": truth.sum(axis=0),
    }


def per_class_scores(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return {
        "precision": safe_divide(tp, tp + fp),
        "recall": safe_divide(tp, tp + fn),
        "f1": safe_divide(2 * tp, 2 * tp + fp + fn),
        "iou": safe_divide(tp, tp + fp + fn),
    }


def averaged_scores(counts: dict[str, np.ndarray], columns: np.ndarray) -> dict[str, float]:
    """precision/recall/f1/iou averaged macro, micro and weighted over `columns`."""
    sub = {key: value[columns] for key, value in counts.items()}
    scores = per_class_scores(sub)
    summed = per_class_scores({key: np.array([value.sum()]) for key, value in sub.items()})
    support = sub["support"].astype(np.float64)
    result = {}
    for name, values in scores.items():
        result[f"{name}_macro"] = float(values.mean()) if values.size else 0.0
        result[f"{name}_micro"] = float(summed[name][0])
        weighted = np.dot(values, support) / support.sum() if support.sum() else 0.0
        result[f"{name}_weighted"] = float(weighted)
    return result


def azure_names(scores: dict[str, float]) -> dict[str, float]:
    """precision_macro -> precision_score_macro, f1_macro -> f1_score_macro (Azure's names)."""
    renamed = {}
    for key, value in scores.items():
        head, average = key.rsplit("_", 1)
        prefix = head if head == "iou" else f"{head}_score"
        renamed[f"{prefix}_{average}"] = value
    return renamed


def ranking_metrics(indicator: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """AUC_* and average_precision_score_* over the columns of an indicator matrix."""
    result = {}
    for average in AVERAGES:
        result[f"AUC_{average}"] = average_binary_metric(roc_auc_binary, indicator, probs, average)
        result[f"average_precision_score_{average}"] = average_binary_metric(
            average_precision_binary, indicator, probs, average
        )
    return result


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.int64)[np.asarray(y, dtype=np.int64)]


def multiclass_metrics(
    y_true: np.ndarray, probs: np.ndarray, *, loss: float | None = None
) -> dict[str, float]:
    """Azure's multi-class metrics from true class indices and softmax probabilities.

    `loss` is the epoch's validation loss, reported as `log_loss` as Azure does; without it
    the log loss of `probs` is computed.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n_classes = probs.shape[1]
    y_pred = probs.argmax(axis=1)
    truth, pred = one_hot(y_true, n_classes), one_hot(y_pred, n_classes)
    counts = per_class_counts(truth, pred)
    present = np.flatnonzero(counts["support"] + pred.sum(axis=0))
    scores = azure_names(averaged_scores(counts, present))
    metrics = {"accuracy": float(np.mean(y_true == y_pred))}
    metrics.update({k: v for k, v in scores.items() if not k.startswith("iou")})  # multi-label only
    metrics.update(ranking_metrics(truth, probs))
    if n_classes == 2:
        metrics.update(binary_metrics(y_true, probs[:, 1], y_pred))
    metrics["norm_macro_recall"] = normalized_macro_recall(metrics["recall_score_macro"], n_classes)
    metrics["log_loss"] = float(loss) if loss is not None else log_loss(y_true, probs)
    return metrics


def binary_metrics(y_true: np.ndarray, scores: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The `_binary` variants (positive class = index 1), added for two-class problems."""
    counts = per_class_counts((y_true == 1)[:, None], (y_pred == 1)[:, None])
    per_class = per_class_scores(counts)
    return {
        "AUC_binary": roc_auc_binary(y_true == 1, scores),
        "average_precision_score_binary": average_precision_binary(y_true == 1, scores),
        "precision_score_binary": float(per_class["precision"][0]),
        "recall_score_binary": float(per_class["recall"][0]),
        "f1_score_binary": float(per_class["f1"][0]),
    }


def normalized_macro_recall(recall_macro: float, n_classes: int) -> float:
    """Macro recall rescaled so that chance is 0 and perfect is 1 (chance = 1/C)."""
    chance = 1.0 / max(n_classes, 2)
    return float((recall_macro - chance) / (1.0 - chance))


def log_loss(y_true: np.ndarray, probs: np.ndarray, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood of the true class (probabilities clipped to [eps, 1])."""
    picked = probs[np.arange(len(y_true)), y_true]
    return float(-np.mean(np.log(np.clip(picked, eps, 1.0))))


def multilabel_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    loss: float | None = None,
    threshold: float = MULTILABEL_THRESHOLD,
) -> dict[str, float]:
    """Azure's multi-label metrics from a 0/1 indicator matrix and sigmoid scores.

    `iou` (primary) is the per-image Jaccard index averaged over images (sklearn's
    `jaccard_score(average="samples")`); `accuracy` is exact-match accuracy.
    """
    truth = np.asarray(y_true).astype(bool)
    probs = np.asarray(probs, dtype=np.float64)
    pred = probs > threshold
    counts = per_class_counts(truth, pred)
    metrics = {
        "accuracy": float(np.mean(np.all(truth == pred, axis=1))),
        "iou": float(safe_divide((truth & pred).sum(1), (truth | pred).sum(1)).mean()),
    }
    metrics.update(azure_names(averaged_scores(counts, np.arange(truth.shape[1]))))
    metrics.update(ranking_metrics(truth.astype(np.int64), probs))
    metrics["norm_macro_recall"] = normalized_macro_recall(metrics["recall_score_macro"], 2)
    metrics["log_loss"] = float(loss) if loss is not None else binary_log_loss(truth, probs)
    return metrics


def binary_log_loss(truth: np.ndarray, probs: np.ndarray, eps: float = 1e-15) -> float:
    probs = np.clip(probs, eps, 1 - eps)
    return float(-np.mean(truth * np.log(probs) + (~truth) * np.log(1 - probs)))


def classification_report(
    y_true: np.ndarray, probs: np.ndarray, labels: list[str], *, multilabel: bool
) -> list[dict]:
    """Rows per class, then micro/macro/weighted: class_name, precision, recall, f1-score,
    support, auc, average_precision (multi-label also iou), as Azure's report."""
    probs = np.asarray(probs, dtype=np.float64)
    if multilabel:
        truth = np.asarray(y_true).astype(bool)
        pred = probs > MULTILABEL_THRESHOLD
    else:
        truth = one_hot(y_true, len(labels)).astype(bool)
        pred = one_hot(probs.argmax(axis=1), len(labels)).astype(bool)
    counts = per_class_counts(truth, pred)
    scores = per_class_scores(counts)
    rows = [
        class_row(name, j, scores, counts, truth, probs, multilabel)
        for j, name in enumerate(labels)
    ]
    averages = averaged_scores(counts, np.arange(len(labels)))
    ranking = ranking_metrics(truth.astype(np.int64), probs)
    for average in AVERAGES:
        row = {
            "class_name": average,
            "precision": averages[f"precision_{average}"],
            "recall": averages[f"recall_{average}"],
            "f1-score": averages[f"f1_{average}"],
            "support": int(counts["support"].sum()),
            "auc": ranking[f"AUC_{average}"],
            "average_precision": ranking[f"average_precision_score_{average}"],
        }
        if multilabel:
            row["iou"] = averages[f"iou_{average}"]
        rows.append(row)
    return rows


def class_row(name, j, scores, counts, truth, probs, multilabel) -> dict:
    row = {
        "class_name": name,
        "precision": float(scores["precision"][j]),
        "recall": float(scores["recall"][j]),
        "f1-score": float(scores["f1"][j]),
        "support": int(counts["support"][j]),
        "auc": roc_auc_binary(truth[:, j], probs[:, j]),
        "average_precision": average_precision_binary(truth[:, j], probs[:, j]),
    }
    if multilabel:
        row["iou"] = float(scores["iou"][j])
    return row
