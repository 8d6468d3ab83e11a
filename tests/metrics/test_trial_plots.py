"""The trial and job charts: ROC/PR curves (numbers checked against scikit-learn), the
normalised confusion matrices (classification, detection with background), results.png,
per-class bars, the prediction grid, sweep importances under the job file's names."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from automl.engine.metrics._detection_confusion import DetectionConfusion
from automl.engine.metrics.curves import MAX_POINTS, classification_curves
from automl.engine.metrics.prediction_plots import plot_prediction_grid
from automl.engine.tasks._plots import write_classification_plots, write_object_plots

LABELS = ["cat", "dog", "fox"]
RECORDS = [
    {
        "epoch": e,
        "lr": 0.1,
        "train": {"loss": 1 / e},
        "valid": {"accuracy": e / 4, "log_loss": 2 / e},
    }
    for e in (1, 2, 3)
]


def scores(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    probs = rng.random((n, 3)) + np.eye(3)[truth] * rng.random((n, 1))
    return np.eye(3, dtype=bool)[truth], probs / probs.sum(axis=1, keepdims=True)


def test_curves_agree_with_scikit_learn_and_stay_small():
    from sklearn.metrics import average_precision_score, roc_auc_score

    truth, probs = scores()
    curves = classification_curves(truth, probs, LABELS)
    assert set(curves["roc"]) == {"micro", *LABELS}
    micro_auc = roc_auc_score(truth, probs, average="micro")
    assert curves["roc"]["micro"]["auc"] == pytest.approx(micro_auc, abs=1e-3)
    ap = average_precision_score(truth[:, 1], probs[:, 1])
    assert curves["pr"]["dog"]["ap"] == pytest.approx(ap, abs=1e-3)
    assert all(len(c["x"]) <= MAX_POINTS for c in curves["roc"].values())


def test_classification_plots(tmp_path):
    truth, probs = scores()
    details = {
        "labels": LABELS,
        "confusion_matrix": [[5, 1, 0], [2, 7, 1], [0, 0, 9]],
        "curves": classification_curves(truth, probs, LABELS),
    }
    write_classification_plots(RECORDS, details, tmp_path, "accuracy")
    for name in ("results", "confusion_matrix", "roc_curve", "pr_curve", "accuracy", "loss"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name


def test_multilabel_plots_have_per_class_bars(tmp_path):
    report = [{"class_name": n, "precision": 0.5, "recall": 0.4, "f1-score": 0.44} for n in LABELS]
    report.append({"class_name": "micro", "precision": 0.5, "recall": 0.4, "f1-score": 0.44})
    details = {"labels": LABELS, "classification_report": report}
    write_classification_plots(RECORDS, details, tmp_path, "accuracy")
    assert (tmp_path / "per_class_metrics.png").is_file()
    assert not (tmp_path / "confusion_matrix.png").exists()


def test_detection_confusion_counts_background_both_ways():
    confusion = DetectionConfusion(2)
    pred = {"scores": np.array([0.9, 0.8, 0.1, 0.7]), "labels": np.array([1, 2, 1, 2])}
    gt = {"labels": np.array([1, 1, 2])}
    iou = np.array([[0.9, 0.0, 0.0], [0.0, 0.6, 0.0], [0.0, 0.0, 0.9], [0.0, 0.0, 0.2]])
    confusion.add(pred, gt, iou)
    # rows: true cat-1, class-2, background; columns: predicted ones, then background
    assert confusion.matrix.tolist() == [[1, 1, 0], [0, 0, 1], [0, 1, 0]]


def test_object_plots_draw_the_confusion_matrix_with_background(tmp_path):
    details = {"labels": ["raccoon"], "confusion_matrix": [[3, 1], [2, 0]],
               "pr_curves": {"raccoon": {"recall": [0, 1], "precision": [1, 0.5]}}}  # fmt: skip
    write_object_plots(RECORDS, details, tmp_path, "mean_average_precision")
    assert (tmp_path / "confusion_matrix.png").is_file() and (tmp_path / "pr_curve.png").is_file()


def test_prediction_grid_draws_labels_and_boxes(tmp_path):
    images = [Image.new("RGB", (64, 48), "gray") for _ in range(20)]
    box = {"topX": 0.1, "topY": 0.1, "bottomX": 0.5, "bottomY": 0.6}
    polygon = [[0.1, 0.1, 0.5, 0.1, 0.3, 0.6]]
    boxes = {"boxes": [{"box": box, "label": "fox", "score": 0.9, "polygon": polygon}]}
    labels = {"labels": LABELS, "probs": [0.1, 0.7, 0.2]}
    results = [boxes, labels] * 10
    path = plot_prediction_grid(images, results, [None, "dog"] * 10, tmp_path / "p.png")
    assert path.stat().st_size > 1000


def test_sweep_importances_use_the_job_files_names():
    from automl.engine.sweep.plots import user_named

    raw = {"0:learning_rate": 0.3, "__subspace": 0.2, "1:learning_rate": 0.4, "1:optimizer": 0.1}
    assert user_named(raw) == pytest.approx(
        {"learning_rate": 0.7, "search_space entry": 0.2, "optimizer": 0.1}
    )
    assert list(user_named(raw))[0] == "learning_rate"


def test_a_trained_trial_has_every_plot(classification_run):
    plots = classification_run / "trials" / "0" / "plots"
    expected = {"results", "loss", "confusion_matrix", "roc_curve", "pr_curve", "predictions"}
    assert expected <= {path.stem for path in plots.glob("*.png")}
    assert (classification_run / "plots" / "best_trial" / "results.png").is_file()
