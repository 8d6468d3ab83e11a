"""Classification charts of the best epoch: ROC and precision-recall curves (per class and
micro-averaged, from curves.py) and per-class precision, recall and F1 bars."""

from __future__ import annotations

import os
from pathlib import Path

from automl.engine.metrics.plots import pyplot, save

MAX_LEGEND = 12  # more classes than this: lines without a legend


def plot_roc_curves(curves: dict, path: str | os.PathLike) -> Path:
    """`curves`: {name: {"x": fpr, "y": tpr, "auc"}}; the diagonal is chance."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    draw_curves(ax, curves, "auc")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    return save(fig, path)


def plot_precision_recall(curves: dict, path: str | os.PathLike) -> Path:
    """`curves`: {name: {"x": recall, "y": precision, "ap"}}."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    draw_curves(ax, curves, "ap")
    ax.set(xlabel="recall", ylabel="precision", title="precision-recall")
    return save(fig, path)


def draw_curves(ax, curves: dict, area: str) -> None:
    """Thin lines per class, a thick one for the micro average, the area in the legend."""
    for name, curve in curves.items():
        micro = name == "micro"
        ax.plot(
            curve["x"],
            curve["y"],
            linewidth=2.5 if micro else 1,
            color="black" if micro else None,
            label=f"{name} ({area} {curve[area]:.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    if len(curves) <= MAX_LEGEND + 1:
        ax.legend(fontsize="x-small", loc="lower right" if area == "auc" else "lower left")


def plot_class_bars(report: list[dict], labels: list[str], path: str | os.PathLike) -> Path:
    """Precision, recall and F1 per class (rows of a classification report)."""
    import numpy as np

    plt = pyplot()
    rows = [row for row in report if row["class_name"] in set(labels)]
    names = [row["class_name"] for row in rows]
    positions = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(rows) + 2), 4), dpi=100)
    for offset, key in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1-score"), strict=True):
        values = [row.get(key) or 0.0 for row in rows]
        ax.bar(positions + offset, values, width=0.27, label=key)
    ax.set_xticks(positions, names, rotation=45, ha="right")
    ax.set(ylim=(0, 1.05), title="per-class precision, recall and F1")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return save(fig, path)
