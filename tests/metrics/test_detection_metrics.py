"""Detection metrics on hand-built cases and against pycocotools."""

from __future__ import annotations

import math

import numpy as np
import pytest

from automl.engine.metrics.detection import (
    DetectionEvaluator,
    box_iou_matrix,
    coco_average_precision,
    match_detections,
    precision_recall,
    voc_average_precision,
)

LABELS = ["cat", "dog"]


def target(boxes, labels, crowd=None):
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    crowd = np.zeros(len(boxes), bool) if crowd is None else np.array(crowd, bool)
    return {"boxes": boxes, "labels": np.array(labels, np.int64), "iscrowd": crowd}


def prediction(boxes, labels, scores):
    return {
        "boxes": np.array(boxes, dtype=np.float64).reshape(-1, 4),
        "labels": np.array(labels, np.int64),
        "scores": np.array(scores, np.float64),
    }


@pytest.mark.parametrize("metric_type", ["voc", "coco", "coco_voc"])
def test_perfect_predictions_score_one(metric_type):
    evaluator = DetectionEvaluator(LABELS, metric_type=metric_type)
    boxes = [[10, 10, 50, 60], [60, 20, 90, 80]]
    evaluator.add(prediction(boxes, [1, 2], [0.9, 0.8]), target(boxes, [1, 2]))
    evaluator.add(prediction([[5, 5, 30, 30]], [1], [0.7]), target([[5, 5, 30, 30]], [1]))
    values = evaluator.compute().values
    assert values["mean_average_precision"] == pytest.approx(1.0)
    if "voc" in metric_type:
        assert values["precision"] == values["recall"] == pytest.approx(1.0)
    if "coco" in metric_type:
        assert values["coco_metrics"]["AP_50_95"] == pytest.approx(1.0)


def test_a_known_shift_gives_a_known_value():
    # Two cats; the higher-scored box is exact, the other is shifted by half its width:
    # IoU = 20*40 / (2*40*40 - 20*40) = 1/3 < 0.5, so it is a false positive.
    # VOC AP = precision 1.0 up to recall 0.5, then nothing: 0.5; precision 1/2, recall 1/2.
    evaluator = DetectionEvaluator(LABELS)
    gts = [[0, 0, 40, 40], [100, 100, 140, 140]]
    preds = [[0, 0, 40, 40], [120, 100, 160, 140]]
    evaluator.add(prediction(preds, [1, 1], [0.9, 0.8]), target(gts, [1, 1]))
    result = evaluator.compute()
    assert result.values["mean_average_precision"] == pytest.approx(0.5)
    assert result.values["precision"] == pytest.approx(0.5)
    assert result.values["recall"] == pytest.approx(0.5)
    # at IoU threshold 0.3 the shifted box counts: AP 1.0
    loose = DetectionEvaluator(LABELS, iou_threshold=0.3)
    loose.add(prediction(preds, [1, 1], [0.9, 0.8]), target(gts, [1, 1]))
    assert loose.compute().values["mean_average_precision"] == pytest.approx(1.0)
    # classes without ground truth are left out of the mean, and reported as null
    dog = [row for row in result.per_label if row["class_name"] == "dog"][0]
    assert dog["average_precision"] is None


def test_crowd_ground_truth_is_ignored():
    evaluator = DetectionEvaluator(LABELS)
    gts = [[0, 0, 40, 40], [50, 50, 150, 150]]
    # one exact hit, one box inside the crowd region: neither TP nor FP
    preds = [[0, 0, 40, 40], [60, 60, 90, 90]]
    evaluator.add(prediction(preds, [1, 1], [0.5, 0.9]), target(gts, [1, 1], crowd=[0, 1]))
    values = evaluator.compute().values
    assert values["mean_average_precision"] == pytest.approx(1.0)
    assert values["precision"] == pytest.approx(1.0) and values["recall"] == pytest.approx(1.0)


def test_duplicates_are_false_positives_and_voc_uses_all_points():
    iou = box_iou_matrix([[0, 0, 10, 10], [0, 0, 10, 10]], [[0, 0, 10, 10]], [False])
    assert match_detections(iou, np.array([False]), 0.5).tolist() == [1, 0]
    # flags TP, FP, TP with 3 positives: precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3;
    # all-points envelope: 1/3 * 1 + 1/3 * 2/3 = 5/9
    precision, recall = precision_recall(np.array([1, 0, 1]), 3)
    assert voc_average_precision(precision, recall) == pytest.approx(5 / 9)


def test_mask_iou_is_used_for_segmentation():
    mask = np.zeros((1, 20, 20), np.uint8)
    mask[0, 2:12, 2:12] = 1
    shifted = np.roll(mask, 6, axis=2)  # same box size, 4/16 overlap of the masks
    evaluator = DetectionEvaluator(LABELS, use_masks=True)
    pred = {**prediction([[2, 2, 12, 12]], [1], [0.9]), "masks": shifted[:, None].astype(float)}
    evaluator.add(pred, {**target([[2, 2, 12, 12]], [1]), "masks": mask})
    assert evaluator.compute().values["mean_average_precision"] == 0.0


def random_sample(rng, n_images=12):
    images = []
    for _ in range(n_images):
        n_gt = rng.integers(0, 5)
        xy = rng.uniform(0, 150, (n_gt, 2))
        gt_boxes = np.hstack([xy, xy + rng.uniform(10, 60, (n_gt, 2))])
        gt_labels = rng.integers(1, 3, n_gt)
        jitter = rng.normal(0, 6, gt_boxes.shape)
        keep = rng.random(n_gt) < 0.8
        n_extra = rng.integers(0, 3)
        extra_xy = rng.uniform(0, 150, (n_extra, 2))
        extra = np.hstack([extra_xy, extra_xy + rng.uniform(10, 60, (n_extra, 2))])
        boxes = np.vstack([(gt_boxes + jitter)[keep], extra])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = np.concatenate([gt_labels[keep], rng.integers(1, 3, n_extra)])
        crowd = rng.random(n_gt) < 0.1
        images.append(
            (
                prediction(boxes, labels, rng.random(len(boxes))),
                target(gt_boxes, gt_labels, crowd),
            )
        )
    return images


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matching_agrees_with_pycocotools(seed):
    """Our matching with COCO's 101-point interpolation equals pycocotools' AP@0.5."""
    rng = np.random.default_rng(seed)
    evaluator = DetectionEvaluator(LABELS, metric_type="coco_voc")
    for pred, gt in random_sample(rng):
        evaluator.add(pred, gt)
    stats = evaluator.compute().values["coco_metrics"]
    ours = []
    for records in evaluator.classes:
        _, flags = records.sorted_flags()
        if records.n_positive:
            ours.append(coco_average_precision(*precision_recall(flags, records.n_positive)))
    assert not math.isnan(stats["AP_50"])
    assert float(np.mean(ours)) == pytest.approx(stats["AP_50"], abs=1e-9)
