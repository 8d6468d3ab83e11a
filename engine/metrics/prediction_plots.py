"""predictions.png: a grid of validation images with the model's predictions drawn (the
predicted label and score over the true one, or the boxes and mask outlines), from the
Azure-form results of `Predictor.predict` (engine/predict/)."""

from __future__ import annotations

import os
from pathlib import Path

from automl.engine.metrics.plots import pyplot, save

MAX_GRID_IMAGES = 16
MAX_BOXES_DRAWN = 10  # per image, the highest scores
MIN_BOX_SCORE = 0.25  # what the model would report (as the detection confusion matrix)
GRID_SIDE_PX = 160  # each image is shown at most this large


def plot_prediction_grid(
    images: list, results: list[dict], truths: list[str | None], path: str | os.PathLike
) -> Path:
    """`images`: PIL images; `results`: one Azure response each; `truths`: the true label
    (classification) or None. At most MAX_GRID_IMAGES are drawn."""
    plt = pyplot()
    count = min(len(images), MAX_GRID_IMAGES)
    n_cols = min(4, max(count, 1))
    n_rows = max(1, -(-count // n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols, 2.6 * n_rows), dpi=80)
    flat = axes.ravel() if hasattr(axes, "ravel") else [axes]
    for ax in flat:
        ax.axis("off")
    for ax, image, result, truth in zip(flat, images, results, truths, strict=False):
        image = image.copy()
        image.thumbnail((GRID_SIDE_PX, GRID_SIDE_PX))
        ax.imshow(image)
        draw_result(ax, result, truth, image.size)
    fig.suptitle("validation images: predictions")
    return save(fig, path)


def draw_result(ax, result: dict, truth: str | None, size: tuple[int, int]) -> None:
    if "boxes" in result:
        draw_boxes(ax, result["boxes"], size)
    elif result.get("labels") and result.get("probs"):
        draw_labels(ax, result, truth)


def draw_labels(ax, result: dict, truth: str | None) -> None:
    """The top prediction (multi-label: every label over 0.5, else the top one)."""
    pairs = sorted(zip(result["labels"], result["probs"], strict=True), key=lambda p: -p[1])
    shown = [p for p in pairs if p[1] > 0.5] or pairs[:1]
    text = ", ".join(f"{label} {prob:.2f}" for label, prob in shown[:3])
    right = truth is None or any(label == truth for label, _ in shown[:1])
    title = text if truth is None else f"{text}\ntrue: {truth}"
    ax.set_title(title, fontsize=7, color="green" if right else "red")


def draw_boxes(ax, boxes: list[dict], size: tuple[int, int]) -> None:
    """Boxes (normalised corners) with label and score, the best MAX_BOXES_DRAWN of those
    scoring at least MIN_BOX_SCORE; polygons of masks as outlines."""
    from matplotlib.patches import Polygon, Rectangle

    width, height = size
    shown = [b for b in boxes if b.get("score", 1.0) >= MIN_BOX_SCORE]
    for item in sorted(shown, key=lambda b: -b.get("score", 1.0))[:MAX_BOXES_DRAWN]:
        box = item["box"]
        x0, y0 = box["topX"] * width, box["topY"] * height
        w, h = (box["bottomX"] - box["topX"]) * width, (box["bottomY"] - box["topY"]) * height
        ax.add_patch(Rectangle((x0, y0), w, h, fill=False, edgecolor="lime", linewidth=1))
        label = f"{item.get('label', '')} {item.get('score', 0.0):.2f}"
        ax.text(x0, y0, label, fontsize=6, color="black", backgroundcolor="lime", va="bottom")
        for polygon in item.get("polygon") or []:
            points = [
                (x * width, y * height) for x, y in zip(polygon[::2], polygon[1::2], strict=False)
            ]
            if len(points) >= 3:
                ax.add_patch(Polygon(points, fill=False, edgecolor="yellow", linewidth=1))
