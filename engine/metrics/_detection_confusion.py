"""The confusion matrix of an object task with a background class, at IoU 0.5: rows are
the true class (last row: background, i.e. a detection matching no object), columns the
predicted class (last column: background, i.e. an object no detection found).

Detections under CONFIDENCE are left out (a chart of what the model would report); each
object matches at most one detection, the pairs of highest IoU first, across classes (so
a box of the wrong class shows as a confusion, not as a miss plus a false positive).
"""

from __future__ import annotations

import numpy as np

CONFIDENCE = 0.25
IOU_THRESHOLD = 0.5


class DetectionConfusion:
    """(n_classes + 1) x (n_classes + 1) counts, one image at a time."""

    def __init__(self, n_classes: int) -> None:
        self.background = n_classes
        self.matrix = np.zeros((n_classes + 1, n_classes + 1), dtype=np.int64)

    def add(self, pred: dict, gt: dict, iou: np.ndarray) -> None:
        """`pred` {scores, labels}, `gt` {labels} (1-based labels, crowd objects left out
        by the caller), `iou` their IoU matrix (detections x objects)."""
        keep = np.asarray(pred["scores"]) >= CONFIDENCE
        pred_labels = np.asarray(pred["labels"])[keep] - 1
        gt_labels = np.asarray(gt["labels"]) - 1
        iou = np.asarray(iou)[keep] if len(gt_labels) else np.zeros((len(pred_labels), 0))
        matched_pred, matched_gt = set(), set()
        for d, g in zip(*np.unravel_index(np.argsort(-iou, axis=None), iou.shape), strict=True):
            if iou[d, g] < IOU_THRESHOLD:
                break
            if d in matched_pred or g in matched_gt:
                continue
            matched_pred.add(d)
            matched_gt.add(g)
            self.matrix[gt_labels[g], pred_labels[d]] += 1
        for g in set(range(len(gt_labels))) - matched_gt:
            self.matrix[gt_labels[g], self.background] += 1
        for d in set(range(len(pred_labels))) - matched_pred:
            self.matrix[self.background, pred_labels[d]] += 1
