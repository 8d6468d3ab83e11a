"""PNG charts of a trial: `results.png` (one page of loss and metric curves per epoch), one
PNG per curve, and the normalised confusion matrix. Curves of classification (ROC, PR, per
class bars) are in curve_plots.py, the validation images with predictions in
prediction_plots.py.

matplotlib is imported inside the functions, with the Agg backend, so that importing the
training code stays fast and nothing needs a display.
"""

from __future__ import annotations

import os
from pathlib import Path

CURVE_METRICS = ("accuracy", "iou", "f1_score_macro", "AUC_macro", "log_loss")
RESULTS_METRICS = (*CURVE_METRICS, "mean_average_precision", "precision", "recall")
MAX_ANNOTATED_CLASSES = 25  # confusion matrices with more classes show colours only


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def integer_epochs(ax) -> None:
    """Epochs are whole numbers: no 1.5 on the axis."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def save(fig, path: str | os.PathLike) -> Path:
    plt = pyplot()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_metric_curves(
    records: list[dict], out_dir: str | os.PathLike, primary: str | None = None
) -> list[Path]:
    """results.png, then one PNG per metric of `metrics.jsonl` records (valid metrics plus
    training loss)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not records:
        return []
    epochs = [record["epoch"] for record in records]
    names = [name for name in dict.fromkeys((primary, *CURVE_METRICS)) if name]
    written = [plot_results(records, out_dir / "results.png", primary)]
    written.append(plot_loss_curve(records, epochs, out_dir))
    for name in names:
        values = [record["valid"].get(name) for record in records]
        if all(value is None for value in values):
            continue
        written.append(plot_curve(epochs, {name: values}, name, out_dir / f"{name}.png"))
    return written


def loss_series(records: list[dict]) -> dict[str, list]:
    return {
        "train loss": [record["train"].get("loss") for record in records],
        "validation loss": [record["valid"].get("log_loss") for record in records],
    }


def plot_loss_curve(records: list[dict], epochs: list[int], out_dir: Path) -> Path:
    return plot_curve(epochs, loss_series(records), "loss", out_dir / "loss.png")


def plot_curve(epochs: list[int], series: dict[str, list], title: str, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    draw_series(ax, epochs, series, title)
    return save(fig, path)


def draw_series(ax, epochs: list[int], series: dict[str, list], title: str) -> None:
    for label, values in series.items():
        points = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=label)
    integer_epochs(ax)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")


def plot_results(records: list[dict], path: Path, primary: str | None = None) -> Path:
    """One page: the losses, then each validation metric recorded, per epoch."""
    plt = pyplot()
    epochs = [record["epoch"] for record in records]
    panels = {"loss": loss_series(records)}
    for name in dict.fromkeys((primary, *RESULTS_METRICS)):
        values = [record["valid"].get(name) for record in records] if name else []
        if any(isinstance(value, (int, float)) for value in values):
            panels[name] = {name: values}
    n_cols = min(3, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4 * n_cols, 3 * n_rows), dpi=100)
    flat = axes.ravel() if hasattr(axes, "ravel") else [axes]
    for ax, (title, series) in zip(flat, panels.items(), strict=False):
        draw_series(ax, epochs, series, title)
    for ax in flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle("training results per epoch")
    return save(fig, path)


def plot_confusion_matrix(matrix, labels: list[str], path: str | os.PathLike) -> Path:
    """Row-normalised confusion matrix: each true class's share per predicted class (the
    colour and the number), its count below; `labels` may end with "background"."""
    import numpy as np

    plt = pyplot()
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(16.0, max(4.0, 0.6 * len(labels) + 2))
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix\n(normalised by true class)")
    if len(labels) <= MAX_ANNOTATED_CLASSES:
        for (i, j), count in np.ndenumerate(matrix):
            colour = "white" if shares[i, j] > 0.5 else "black"
            text = f"{shares[i, j]:.2f}\n({count})"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize="small")
    return save(fig, path)
