"""The charts of a finished trial, per task (its descriptor's `plots`).

`write_plots(records, details, plots_dir, primary_key)`: `records` are the trial's
metrics.jsonl lines, `details` its best-epoch report (result.json's `details`).
Matplotlib is imported by engine/metrics/plots.py, inside these functions' calls.
"""

from __future__ import annotations

from pathlib import Path


def write_classification_plots(
    records: list[dict], details: dict, plots: Path, primary_key: str
) -> None:
    """Metric curves per epoch, and the confusion matrix (multi-class) of the best epoch."""
    from automl.engine.metrics.plots import plot_confusion_matrix, plot_metric_curves

    plot_metric_curves(records, plots, primary_key)
    if "confusion_matrix" in details:
        plot_confusion_matrix(
            details["confusion_matrix"], details["labels"], plots / "confusion_matrix.png"
        )


def write_object_plots(records: list[dict], details: dict, plots: Path, primary_key: str) -> None:
    """Metric curves, precision and recall per epoch, and the best epoch's PR curves."""
    from automl.engine.metrics.detection import plot_pr_curves
    from automl.engine.metrics.plots import plot_curve, plot_metric_curves

    plot_metric_curves(records, plots, primary_key)
    epochs = [record["epoch"] for record in records]
    for name in ("precision", "recall"):
        values = [record["valid"].get(name) for record in records]
        if any(value is not None for value in values):
            plot_curve(epochs, {name: values}, name, plots / f"{name}.png")
    if details.get("pr_curves"):
        plot_pr_curves(details["pr_curves"], plots / "pr_curve.png")
