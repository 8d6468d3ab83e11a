"""PNG charts of a trial (metric curves per epoch, confusion matrix).

matplotlib is imported inside the functions, with the Agg backend, so that importing the
training code stays fast and nothing needs a display.
"""

from __future__ import annotations

import os
from pathlib import Path

CURVE_METRICS = ("accuracy", "iou", "f1_score_macro", "AUC_macro", "log_loss")


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_metric_curves(
    records: list[dict], out_dir: str | os.PathLike, primary: str | None = None
) -> list[Path]:
    """One PNG per metric of `metrics.jsonl` records (valid metrics plus training loss)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not records:
        return []
    epochs = [record["epoch"] for record in records]
    names = [name for name in dict.fromkeys((primary, *CURVE_METRICS)) if name]
    written = [plot_loss_curve(records, epochs, out_dir)]
    for name in names:
        values = [record["valid"].get(name) for record in records]
        if all(value is None for value in values):
            continue
        written.append(plot_curve(epochs, {name: values}, name, out_dir / f"{name}.png"))
    return written


def plot_loss_curve(records: list[dict], epochs: list[int], out_dir: Path) -> Path:
    series = {
        "train loss": [record["train"].get("loss") for record in records],
        "validation loss": [record["valid"].get("log_loss") for record in records],
    }
    return plot_curve(epochs, series, "loss", out_dir / "loss.png")


def plot_curve(epochs: list[int], series: dict[str, list], title: str, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    for label, values in series.items():
        points = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion_matrix(matrix, labels: list[str], path: str | os.PathLike) -> Path:
    """Counts per (true, predicted) class with the row-normalised share as colour."""
    import numpy as np

    plt = pyplot()
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if shares[i, j] > 0.5 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=colour)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
