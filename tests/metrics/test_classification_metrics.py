"""Our numpy metrics against scikit-learn on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from automl.engine.metrics import (
    classification_metrics,
    classification_report,
    confusion_matrix,
    multiclass_metrics,
    multilabel_metrics,
    primary_metric_key,
)
from automl.engine.metrics._ranking import average_precision_binary, roc_auc_binary


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def multiclass_case():
    rng = np.random.default_rng(0)
    y = np.r_[np.arange(4), rng.integers(0, 4, 56)]  # every class present
    logits = rng.normal(size=(60, 4)) + 1.5 * np.eye(4)[y]
    return y, softmax(logits)


@pytest.fixture
def multilabel_case():
    rng = np.random.default_rng(1)
    truth = (rng.random((50, 5)) < 0.4).astype(int)
    truth[0], truth[1] = 1, 0  # every column has positives and negatives
    scores = np.clip(truth * 0.35 + rng.random((50, 5)) * 0.65, 0, 1)
    return truth, scores


def test_multiclass_metrics_match_sklearn(multiclass_case):
    y, probs = multiclass_case
    pred = probs.argmax(axis=1)
    ours = multiclass_metrics(y, probs)
    onehot = label_binarize(y, classes=range(4))
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for average in ("macro", "micro", "weighted"):
        kw = {"average": average, "zero_division": 0}
        assert ours[f"precision_score_{average}"] == pytest.approx(
            skm.precision_score(y, pred, **kw)
        )
        assert ours[f"recall_score_{average}"] == pytest.approx(skm.recall_score(y, pred, **kw))
        assert ours[f"f1_score_{average}"] == pytest.approx(skm.f1_score(y, pred, **kw))
        assert ours[f"AUC_{average}"] == pytest.approx(
            skm.roc_auc_score(onehot, probs, average=average)
        )
        assert ours[f"average_precision_score_{average}"] == pytest.approx(
            skm.average_precision_score(onehot, probs, average=average)
        )
    assert ours["log_loss"] == pytest.approx(skm.log_loss(y, probs))
    assert "iou" not in ours and "AUC_binary" not in ours


def test_multiclass_macro_averages_over_present_classes_like_sklearn():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    pred = probs.argmax(axis=1)
    ours = multiclass_metrics(y, probs)
    assert ours["f1_score_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert ours["precision_score_macro"] == pytest.approx(
        skm.precision_score(y, pred, average="macro", zero_division=0)
    )


def test_binary_metrics_and_validation_loss_as_log_loss():
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    p1 = np.array([0.2, 0.9, 0.4, 0.4, 0.7, 0.1, 0.6, 0.8])
    probs = np.c_[1 - p1, p1]
    ours = multiclass_metrics(y, probs, loss=0.123)
    pred = (p1 > 0.5).astype(int)
    assert ours["AUC_binary"] == pytest.approx(skm.roc_auc_score(y, p1))
    assert ours["average_precision_score_binary"] == pytest.approx(
        skm.average_precision_score(y, p1)
    )
    assert ours["f1_score_binary"] == pytest.approx(skm.f1_score(y, pred))
    assert ours["precision_score_binary"] == pytest.approx(skm.precision_score(y, pred))
    assert ours["recall_score_binary"] == pytest.approx(skm.recall_score(y, pred))
    assert ours["log_loss"] == 0.123  # Azure reports the validation loss under log_loss


def test_ranking_metrics_handle_ties_like_sklearn():
    y = np.array([1, 0, 1, 0, 1, 1, 0])
    scores = np.array([0.5, 0.5, 0.9, 0.1, 0.5, 0.2, 0.2])
    assert roc_auc_binary(y, scores) == pytest.approx(skm.roc_auc_score(y, scores))
    assert average_precision_binary(y, scores) == pytest.approx(
        skm.average_precision_score(y, scores)
    )
    assert np.isnan(roc_auc_binary(np.ones(3), scores[:3]))


def test_multilabel_metrics_match_sklearn(multilabel_case):
    truth, scores = multilabel_case
    pred = (scores > 0.5).astype(int)
    ours = multilabel_metrics(truth, scores)
    assert ours["iou"] == pytest.approx(
        skm.jaccard_score(truth, pred, average="samples", zero_division=0)
    )
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    for average in ("macro", "micro", "weighted"):
        kw = {"average": average, "zero_division": 0}
        assert ours[f"iou_{average}"] == pytest.approx(skm.jaccard_score(truth, pred, **kw))
        assert ours[f"precision_score_{average}"] == pytest.approx(
            skm.precision_score(truth, pred, **kw)
        )
        assert ours[f"recall_score_{average}"] == pytest.approx(skm.recall_score(truth, pred, **kw))
        assert ours[f"f1_score_{average}"] == pytest.approx(skm.f1_score(truth, pred, **kw))
        assert ours[f"AUC_{average}"] == pytest.approx(
            skm.roc_auc_score(truth, scores, average=average)
        )
        assert ours[f"average_precision_score_{average}"] == pytest.approx(
            skm.average_precision_score(truth, scores, average=average)
        )


def test_confusion_matrix_and_report_match_sklearn(multiclass_case):
    y, probs = multiclass_case
    pred = probs.argmax(axis=1)
    assert np.array_equal(confusion_matrix(y, pred, 4), skm.confusion_matrix(y, pred))
    labels = ["a", "b", "c", "d"]
    report = classification_report(y, probs, labels, multilabel=False)
    expected = skm.classification_report(y, pred, output_dict=True, target_names=labels)
    assert [row["class_name"] for row in report] == [*labels, "macro", "micro", "weighted"]
    for row in report[:4]:
        assert row["precision"] == pytest.approx(expected[row["class_name"]]["precision"])
        assert row["f1-score"] == pytest.approx(expected[row["class_name"]]["f1-score"])
        assert row["support"] == expected[row["class_name"]]["support"]
    assert report[4]["recall"] == pytest.approx(expected["macro avg"]["recall"])


def test_multilabel_report_has_iou_per_class(multilabel_case):
    truth, scores = multilabel_case
    report = classification_report(truth, scores, list("vwxyz"), multilabel=True)
    per_class = skm.jaccard_score(truth, (scores > 0.5).astype(int), average=None)
    assert [row["iou"] for row in report[:5]] == pytest.approx(per_class.tolist())


def test_task_dispatch_and_primary_metric_names(multiclass_case):
    y, probs = multiclass_case
    assert classification_metrics("image_classification", y, probs)["accuracy"] > 0
    assert primary_metric_key("auc_weighted") == "AUC_weighted"
    assert primary_metric_key("iou") == "iou"
