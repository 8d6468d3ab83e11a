"""The charts of a finished trial, per task (its descriptor's `plots`).

`write_plots(records, details, plots_dir, primary_key)`: `records` are the trial's
metrics.jsonl lines, `details` its best-epoch report (result.json's `details`).
Matplotlib is imported by engine/metrics/plots.py, inside these functions' calls.
Every task writes results.png (loss and metrics per epoch) and one PNG per curve; the
validation images with predictions drawn (predictions.png) come from the trial runner,
which holds the model (engine/training/trial.py).
"""

from __future__ import annotations

from pathlib import Path


def write_classification_plots(
    records: list[dict], details: dict, plots: Path, primary_key: str
) -> None:
    """Metric curves per epoch; of the best epoch: the normalised confusion matrix
    (multi-class), ROC and precision-recall curves (per class and micro-averaged), and
    per-class precision/recall/F1 bars (multi-label)."""
    from automl.engine.metrics.curve_plots import (
        plot_class_bars,
        plot_precision_recall,
        plot_roc_curves,
    )
    from automl.engine.metrics.plots import plot_confusion_matrix, plot_metric_curves

    plot_metric_curves(records, plots, primary_key)
    labels = details.get("labels") or []
    if "confusion_matrix" in details:
        plot_confusion_matrix(details["confusion_matrix"], labels, plots / "confusion_matrix.png")
    elif details.get("classification_report"):  # multi-label: no single predicted class
        plot_class_bars(details["classification_report"], labels, plots / "per_class_metrics.png")
    curves = details.get("curves") or {}
    if curves.get("roc"):
        plot_roc_curves(curves["roc"], plots / "roc_curve.png")
    if curves.get("pr"):
        plot_precision_recall(curves["pr"], plots / "pr_curve.png")


def write_object_plots(records: list[dict], details: dict, plots: Path, primary_key: str) -> None:
    """Metric curves, precision and recall per epoch; of the best epoch: the PR curves per
    class at IoU 0.5 and the confusion matrix with a background class."""
    from automl.engine.metrics.detection import plot_pr_curves
    from automl.engine.metrics.plots import plot_confusion_matrix, plot_curve, plot_metric_curves

    plot_metric_curves(records, plots, primary_key)
    epochs = [record["epoch"] for record in records]
    for name in ("precision", "recall"):
        values = [record["valid"].get(name) for record in records]
        if any(value is not None for value in values):
            plot_curve(epochs, {name: values}, name, plots / f"{name}.png")
    if details.get("pr_curves"):
        plot_pr_curves(details["pr_curves"], plots / "pr_curve.png")
    if details.get("confusion_matrix"):
        labels = [*details.get("labels", []), "background"]
        plot_confusion_matrix(details["confusion_matrix"], labels, plots / "confusion_matrix.png")
