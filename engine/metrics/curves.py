"""ROC and precision-recall curves of a classification evaluation, per class and
micro-averaged, thinned to a bounded number of points: they are kept in result.json's
`details` (the best epoch's) and drawn by engine/metrics/curve_plots.py."""

from __future__ import annotations

import numpy as np

MAX_POINTS = 101  # per curve: enough for a smooth line, small in result.json
MAX_CLASSES = 20  # per-class curves beyond this many classes: only the micro average


def classification_curves(truth: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    """{"roc": {name: {"x", "y", "auc"}}, "pr": {name: {"x", "y", "ap"}}}; `truth` is the
    0/1 indicator matrix (images x classes), `probs` the scores; "micro" pools every class."""
    truth, probs = np.asarray(truth, dtype=bool), np.asarray(probs, dtype=np.float64)
    series = {"micro": (truth.ravel(), probs.ravel())}
    if len(labels) <= MAX_CLASSES:
        series.update({name: (truth[:, j], probs[:, j]) for j, name in enumerate(labels)})
    curves: dict = {"roc": {}, "pr": {}}
    for name, (positive, scores) in series.items():
        if positive.any() and not positive.all():
            curves["roc"][name], curves["pr"][name] = binary_curves(positive, scores)
    return curves


def binary_curves(positive: np.ndarray, scores: np.ndarray) -> tuple[dict, dict]:
    """The ROC and PR curves of one binary problem, at every distinct score."""
    order = np.argsort(-scores, kind="mergesort")
    positive, scores = positive[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # one point per threshold
    tp = np.cumsum(positive)[last].astype(np.float64)
    fp = (last + 1 - tp).astype(np.float64)
    n_pos, n_neg = tp[-1], fp[-1]
    fpr, tpr = np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]
    precision, recall = np.r_[1.0, tp / (tp + fp)], np.r_[0.0, tp / n_pos]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoids
    ap = float(np.sum(np.diff(recall) * precision[1:]))
    return (
        {**thinned(fpr, tpr), "auc": round(auc, 4)},
        {**thinned(recall, precision), "ap": round(ap, 4)},
    )


def thinned(x: np.ndarray, y: np.ndarray) -> dict:
    """At most MAX_POINTS points (first and last kept), rounded for a small file."""
    if len(x) > MAX_POINTS:
        keep = np.unique(np.linspace(0, len(x) - 1, MAX_POINTS).round().astype(int))
        x, y = x[keep], y[keep]
    return {"x": np.round(x, 4).tolist(), "y": np.round(y, 4).tolist()}
