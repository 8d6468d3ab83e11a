"""Object detection and instance segmentation metrics (docs/azure-compatibility.md §8.3).

`DetectionEvaluator(labels, metric_type=, iou_threshold=, use_masks=)` collects one image at
a time (`add(prediction, target)`, pixel boxes, 1-based labels as torchvision uses) and
`compute()` returns `DetectionMetrics`:

- `voc` (default): per class, detections of all images sorted by score are matched to
  ground truth at IoU >= `validation_iou_threshold`; AP is the area under the precision
  curve made monotone (all-points interpolation, not 11-point). `mean_average_precision`
  is the mean over classes that have ground truth. `precision` / `recall` are the means of
  the per-class values at the lowest score (every kept detection).
- `coco`: pycocotools' COCOeval (101-point AP over IoU .50:.05:.95); all 12 stats are kept
  under `coco_metrics` and `mean_average_precision` is AP@0.5 (stats[1]), as Azure reports.
- `coco_voc`: both; the VOC value is `mean_average_precision`.
- `none`: nothing is computed.

Matching follows COCO: a detection takes the unmatched non-crowd ground truth with the
highest IoU >= threshold; failing that, a crowd box it overlaps (IoU with a crowd box is
intersection over the detection's own area) makes it ignored, neither true nor false
positive; crowd ground truth never counts as a positive. Segmentation uses mask IoU.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, field

import numpy as np

from automl.engine.metrics._detection_confusion import DetectionConfusion

logger = logging.getLogger("automl.metrics")

METRIC_TYPES = ("voc", "coco", "coco_voc", "none")
COCO_STAT_NAMES = (
    "AP_50_95",
    "AP_50",
    "AP_75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR_1",
    "AR_10",
    "AR_100",
    "AR_small",
    "AR_medium",
    "AR_large",
)
TP, FP, IGNORED = 1, 0, -1
PREDICTION_KEYS = ("boxes", "scores", "labels", "masks")
TARGET_KEYS = ("boxes", "labels", "iscrowd", "masks")
MAX_CURVE_POINTS = 101


def box_iou_matrix(dets: np.ndarray, gts: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU [n_det, n_gt] of xyxy boxes; a crowd column uses the detection's area instead
    of the union (pycocotools' rule)."""
    dets, gts = np.asarray(dets, np.float64).reshape(-1, 4), np.asarray(gts, np.float64)
    gts = gts.reshape(-1, 4)
    area_d = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
    area_g = (gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1])
    width = np.minimum(dets[:, None, 2], gts[None, :, 2]) - np.maximum(
        dets[:, None, 0], gts[None, :, 0]
    )
    height = np.minimum(dets[:, None, 3], gts[None, :, 3]) - np.maximum(
        dets[:, None, 1], gts[None, :, 1]
    )
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    return _iou_from_areas(inter, area_d, area_g, crowd)


def mask_iou_matrix(dets: np.ndarray, gts: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU [n_det, n_gt] of binary masks [n, H, W] (crowd rule as for boxes)."""
    dets, gts = np.asarray(dets, dtype=bool), np.asarray(gts, dtype=bool)
    n_pixels = int(np.prod(dets.shape[1:] if dets.ndim == 3 else gts.shape[1:]))
    d = dets.reshape(len(dets), n_pixels).astype(np.float32)
    g = gts.reshape(len(gts), n_pixels).astype(np.float32)
    inter = d @ g.T
    return _iou_from_areas(inter, d.sum(1), g.sum(1), crowd)


def _iou_from_areas(inter, area_d, area_g, crowd) -> np.ndarray:
    union = area_d[:, None] + area_g[None, :] - inter
    denominator = np.where(np.asarray(crowd, bool)[None, :], area_d[:, None], union)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(denominator > 0, inter / denominator, 0.0)
    return iou


def match_detections(iou: np.ndarray, crowd: np.ndarray, iou_threshold: float) -> np.ndarray:
    """TP (1), FP (0) or IGNORED (-1) per detection; rows of `iou` sorted by score, best
    first (see the module docstring for the rule)."""
    crowd = np.asarray(crowd, dtype=bool)
    matched = np.zeros(iou.shape[1], dtype=bool)
    flags = np.full(iou.shape[0], FP, dtype=np.int8)
    for d in range(iou.shape[0]):
        candidates = np.where(~crowd & ~matched & (iou[d] >= iou_threshold), iou[d], -1.0)
        if candidates.size and candidates.max() >= 0:
            best = int(candidates.argmax())
            matched[best] = True
            flags[d] = TP
        elif crowd.any() and (iou[d][crowd] >= iou_threshold).any():
            flags[d] = IGNORED
    return flags


def precision_recall(flags: np.ndarray, n_positive: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative precision and recall of score-sorted TP/FP flags (ignored removed)."""
    flags = flags[flags != IGNORED]
    tps = np.cumsum(flags == TP)
    fps = np.cumsum(flags == FP)
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / max(n_positive, 1)
    return precision, recall


def voc_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """All-points interpolated AP (Pascal VOC 2010+): area under the monotone envelope."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def coco_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """COCO's 101-point interpolated AP (pycocotools' accumulate at one IoU threshold)."""
    envelope = np.maximum.accumulate(np.asarray(precision)[::-1])[::-1]
    points = np.linspace(0.0, 1.0, 101)
    index = np.searchsorted(recall, points, side="left")
    values = np.where(index < len(envelope), envelope[np.minimum(index, len(envelope) - 1)], 0)
    return float(values.mean()) if len(envelope) else 0.0


@dataclass
class ClassRecords:
    """Per class: score and TP/FP/IGNORED flag of every detection, and positives."""

    scores: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    n_positive: int = 0

    def sorted_flags(self) -> tuple[np.ndarray, np.ndarray]:
        scores = np.concatenate(self.scores) if self.scores else np.zeros(0)
        flags = np.concatenate(self.flags) if self.flags else np.zeros(0, np.int8)
        order = np.argsort(-scores, kind="mergesort")
        return scores[order], flags[order]


@dataclass
class DetectionMetrics:
    """Scalars for metrics.jsonl (`values`), the per-label table and PR curves."""

    values: dict
    per_label: list[dict]
    pr_curves: dict
    confusion_matrix: list | None = None  # with background (_detection_confusion.py)


def to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


class DetectionEvaluator:
    """Collects predictions and ground truth image by image; see the module docstring."""

    def __init__(
        self,
        labels: list[str],
        *,
        metric_type: str = "voc",
        iou_threshold: float = 0.5,
        use_masks: bool = False,
    ) -> None:
        if metric_type not in METRIC_TYPES:
            raise ValueError(f"validation_metric_type {metric_type!r} not in {METRIC_TYPES}")
        self.labels = list(labels)
        self.metric_type = metric_type
        self.iou_threshold = iou_threshold
        self.use_masks = use_masks
        self.classes = [ClassRecords() for _ in self.labels]
        self.coco = CocoCollector(len(self.labels), use_masks) if "coco" in metric_type else None
        self.confusion = DetectionConfusion(len(self.labels))

    def add(self, prediction: dict, target: dict) -> None:
        """One image: prediction {boxes, scores, labels[, masks]} and target {boxes, labels,
        iscrowd[, masks]}; boxes xyxy in pixels, labels 1-based."""
        if self.metric_type == "none":
            return
        pred = {k: to_numpy(v) for k, v in prediction.items() if k in PREDICTION_KEYS}
        gt = {k: to_numpy(v) for k, v in target.items() if k in TARGET_KEYS}
        if self.use_masks and "masks" in pred and pred["masks"].ndim == 4:
            pred["masks"] = pred["masks"][:, 0]
        if "voc" in self.metric_type:
            self._add_voc(pred, gt)
        self._add_confusion(pred, gt)
        if self.coco is not None:
            self.coco.add(pred, gt)

    def _add_voc(self, pred: dict, gt: dict) -> None:
        crowd_all = gt.get("iscrowd", np.zeros(len(gt["labels"]))).astype(bool)
        for c in range(1, len(self.labels) + 1):
            d_sel, g_sel = pred["labels"] == c, gt["labels"] == c
            records = self.classes[c - 1]
            crowd = crowd_all[g_sel]
            records.n_positive += int((~crowd).sum())
            if not d_sel.any():
                continue
            scores = pred["scores"][d_sel]
            order = np.argsort(-scores, kind="mergesort")
            iou = self._iou(pred, gt, d_sel, g_sel, crowd)[order]
            records.scores.append(scores[order])
            records.flags.append(match_detections(iou, crowd, self.iou_threshold))

    def _add_confusion(self, pred: dict, gt: dict) -> None:
        crowd = gt.get("iscrowd", np.zeros(len(gt["labels"]))).astype(bool)
        objects = {key: value[~crowd] for key, value in gt.items() if key != "iscrowd"}
        every = np.ones(len(pred["labels"]), dtype=bool)
        iou = self._iou(pred, objects, every, np.ones(len(objects["labels"]), bool), crowd[~crowd])
        self.confusion.add(pred, objects, iou)

    def _iou(self, pred, gt, d_sel, g_sel, crowd) -> np.ndarray:
        if self.use_masks:
            return mask_iou_matrix(pred["masks"][d_sel] > 0.5, gt["masks"][g_sel], crowd)
        return box_iou_matrix(pred["boxes"][d_sel], gt["boxes"][g_sel], crowd)

    def compute(self) -> DetectionMetrics:
        """The metrics of everything added so far."""
        if self.metric_type == "none":
            return DetectionMetrics({}, [], {})
        values, per_label, curves = {}, [], {}
        if "voc" in self.metric_type:
            values, per_label, curves = self._compute_voc()
        if self.coco is not None:
            stats = self.coco.evaluate(self.iou_threshold)
            values["coco_metrics"] = dict(zip(COCO_STAT_NAMES, stats, strict=True))
            if self.metric_type == "coco":
                values["mean_average_precision"] = stats[1]
        return DetectionMetrics(values, per_label, curves, self.confusion.matrix.tolist())

    def _compute_voc(self) -> tuple[dict, list, dict]:
        per_label, curves = [], {}
        for name, records in zip(self.labels, self.classes, strict=True):
            scores, flags = records.sorted_flags()
            precision, recall = precision_recall(flags, records.n_positive)
            row = class_row(name, records.n_positive, precision, recall)
            per_label.append(row)
            if records.n_positive:
                curves[name] = pr_curve_points(precision, recall, scores[flags != IGNORED])
        defined = [row for row in per_label if row["average_precision"] is not None]
        values = {
            key: (float(np.mean([r[key] for r in defined])) if defined else float("nan"))
            for key in ("average_precision", "precision", "recall")
        }
        values["mean_average_precision"] = values.pop("average_precision")
        return values, per_label, curves


def class_row(name: str, n_positive: int, precision: np.ndarray, recall: np.ndarray) -> dict:
    """One row of `per_label_metrics`; None where the class has no ground truth."""
    if not n_positive:
        return {"class_name": name, "precision": None, "recall": None, "average_precision": None}
    return {
        "class_name": name,
        "precision": float(precision[-1]) if len(precision) else 0.0,
        "recall": float(recall[-1]) if len(recall) else 0.0,
        "average_precision": voc_average_precision(precision, recall),
    }


def pr_curve_points(precision, recall, scores) -> dict:
    """The PR curve (recall, precision, score_threshold), thinned to ~101 points."""
    if len(precision) > MAX_CURVE_POINTS:
        index = np.unique(np.linspace(0, len(precision) - 1, MAX_CURVE_POINTS).astype(int))
        precision, recall, scores = precision[index], recall[index], scores[index]
    return {
        "recall": [float(v) for v in recall],
        "precision": [float(v) for v in precision],
        "score_threshold": [float(v) for v in scores],
    }


class CocoCollector:
    """Ground truth and detections in COCO json form, evaluated by pycocotools."""

    def __init__(self, n_classes: int, use_masks: bool) -> None:
        from automl.engine.utils.extras import require

        require("pycocotools", "coco", "validation_metric_type coco and coco_voc")
        self.n_classes = n_classes
        self.use_masks = use_masks
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self.detections: list[dict] = []

    def add(self, pred: dict, gt: dict) -> None:
        image_id = len(self.images) + 1
        height, width = self._size(pred, gt)
        self.images.append({"id": image_id, "width": width, "height": height})
        crowd = gt.get("iscrowd", np.zeros(len(gt["labels"])))
        for i in range(len(gt["labels"])):
            entry = self._entry(gt, i, image_id)
            entry.update(id=len(self.annotations) + 1, iscrowd=int(crowd[i]))
            self.annotations.append(entry)
        for i in range(len(pred["labels"])):
            entry = self._entry(pred, i, image_id)
            entry["score"] = float(pred["scores"][i])
            self.detections.append(entry)

    def _size(self, pred: dict, gt: dict) -> tuple[int, int]:
        if self.use_masks and "masks" in gt:
            return int(gt["masks"].shape[-2]), int(gt["masks"].shape[-1])
        boxes = np.concatenate([pred["boxes"].reshape(-1, 4), gt["boxes"].reshape(-1, 4)])
        extent = boxes.max(axis=0) if len(boxes) else np.ones(4)
        return int(np.ceil(max(extent[3], 1))), int(np.ceil(max(extent[2], 1)))

    def _entry(self, item: dict, i: int, image_id: int) -> dict:
        x0, y0, x1, y1 = (float(v) for v in item["boxes"][i])
        entry = {
            "image_id": image_id,
            "category_id": int(item["labels"][i]),
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": (x1 - x0) * (y1 - y0),
        }
        if self.use_masks:
            from pycocotools import mask as mask_utils

            binary = np.asfortranarray((item["masks"][i] > 0.5).astype(np.uint8))
            rle = mask_utils.encode(binary)
            rle["counts"] = rle["counts"].decode("ascii")
            entry.update(segmentation=rle, area=float(mask_utils.area(rle)))
        return entry

    def evaluate(self, iou_threshold: float) -> list[float]:
        """The 12 COCO stats (NaN when there is no ground truth or no detection)."""
        if not self.annotations or not self.detections:
            return [float("nan")] * len(COCO_STAT_NAMES)
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        categories = [{"id": c} for c in range(1, self.n_classes + 1)]
        with contextlib.redirect_stdout(io.StringIO()) as printed:  # pycocotools prints
            ground_truth = COCO()
            ground_truth.dataset = {
                "images": self.images,
                "annotations": self.annotations,
                "categories": categories,
            }
            ground_truth.createIndex()
            results = ground_truth.loadRes(self.detections)
            evaluation = COCOeval(ground_truth, results, "segm" if self.use_masks else "bbox")
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        logger.debug("COCO evaluation:\n%s", printed.getvalue())
        return [float(v) if v >= 0 else float("nan") for v in evaluation.stats]


def plot_pr_curves(curves: dict, path) -> None:
    """One precision-recall line per class (the best epoch's VOC curves) in one PNG."""
    from pathlib import Path

    from automl.engine.metrics.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    for name, curve in curves.items():
        ax.plot(curve["recall"], curve["precision"], label=name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_title("precision-recall")
    ax.grid(alpha=0.3)
    if len(curves) <= 12:
        ax.legend(fontsize="small")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
