"""Binary ranking metrics (ROC AUC, average precision), numpy only, sklearn's definitions."""

from __future__ import annotations

import numpy as np


def roc_auc_binary(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic with average ranks for ties (= sklearn's
    trapezoidal ROC area). NaN when y_true has a single class."""
    y_true = np.asarray(y_true, dtype=bool)
    n_pos = int(y_true.sum())
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # boundaries of runs of equal values
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], sorted_values.size]
    run_ranks = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def average_precision_binary(y_true: np.ndarray, scores: np.ndarray) -> float:
    """AP = sum over thresholds of (R_n - R_{n-1}) * P_n (sklearn's step-wise definition).
    NaN when there is no positive."""
    y_true = np.asarray(y_true, dtype=bool)
    n_pos = int(y_true.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    sorted_scores = np.asarray(scores, dtype=np.float64)[order]
    hits = y_true[order]
    # the last index of each distinct score: one point of the PR curve per threshold
    last = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), hits.size - 1]
    tps = np.cumsum(hits)[last]
    precision = tps / (last + 1)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def average_binary_metric(fn, y_true: np.ndarray, scores: np.ndarray, average: str) -> float:
    """Average a binary metric over the columns of indicator `y_true` (macro, weighted by
    positives, or micro over the flattened matrix). Columns where the metric is undefined
    (no positive, or for AUC no negative) are left out of macro/weighted."""
    if average == "micro":
        return fn(y_true.ravel(), scores.ravel())
    values = np.array([fn(y_true[:, j], scores[:, j]) for j in range(y_true.shape[1])])
    defined = ~np.isnan(values)
    if not defined.any():
        return float("nan")
    if average == "macro":
        return float(values[defined].mean())
    support = y_true.sum(axis=0)[defined].astype(np.float64)
    if support.sum() == 0:
        return float("nan")
    return float(np.average(values[defined], weights=support))
