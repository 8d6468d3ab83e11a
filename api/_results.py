"""Typed prediction results over the endpoint's response objects.

The predictor formats each image's response once (the JSON `automl model serve` returns
and `automl model predict` writes, docs/azure-compatibility.md); these dataclasses read it,
and `to_azure()` gives it back unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClassificationResult:
    """One image's classes: `label` is the most probable one; `probabilities` maps every
    label to its probability (softmax; independent sigmoids for multi-label tasks)."""

    label: str
    probabilities: dict[str, float]
    multilabel: bool = False
    _azure: dict = field(default_factory=dict, repr=False, compare=False)

    def labels_over(self, threshold: float = 0.5) -> list[str]:
        """The labels whose probability is at least `threshold` (multi-label), most
        probable first."""
        ranked = sorted(self.probabilities.items(), key=lambda item: -item[1])
        return [label for label, probability in ranked if probability >= threshold]

    def to_azure(self) -> dict:
        """The endpoint's JSON object for this image: `{"probs": [...], "labels": [...]}`."""
        return copy.deepcopy(self._azure)


@dataclass(frozen=True)
class Box:
    """One detected object: `box` is (x0, y0, x1, y1) as fractions of the image's width
    and height; `polygon` (instance segmentation) is its mask's outline, [[x1, y1, x2, y2,
    ...], ...] in the same fractions."""

    label: str
    score: float
    box: tuple[float, float, float, float]
    polygon: list[list[float]] | None = None


@dataclass(frozen=True)
class DetectionResult:
    """One image's objects, most confident first as the model gave them."""

    boxes: list[Box]
    _azure: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def masks(self) -> list[list[list[float]]] | None:
        """Each box's polygons (instance segmentation), None for plain detection."""
        if not any(box.polygon is not None for box in self.boxes):
            return None
        return [box.polygon or [] for box in self.boxes]

    def to_azure(self) -> dict:
        """The endpoint's JSON object for this image: `{"boxes": [{"box": {topX, topY,
        bottomX, bottomY}, "label", "score"[, "polygon"]}, ...]}`."""
        return copy.deepcopy(self._azure)


def result_from_azure(
    response: dict, *, multilabel: bool = False
) -> ClassificationResult | DetectionResult:
    """The typed result of one response object of the predictor."""
    if "probs" in response:
        return _classification(response, multilabel)
    if "boxes" in response:
        return DetectionResult([_box(entry) for entry in response["boxes"]], _azure=response)
    raise ValueError(f"not a prediction response: keys {sorted(response)}")


def _classification(response: dict, multilabel: bool) -> ClassificationResult:
    probabilities = dict(zip(response["labels"], response["probs"], strict=True))
    label = max(probabilities, key=probabilities.__getitem__) if probabilities else ""
    return ClassificationResult(label, probabilities, multilabel, _azure=response)


def _box(entry: dict) -> Box:
    corners = entry.get("box") or {}
    box = tuple(float(corners.get(key, 0.0)) for key in ("topX", "topY", "bottomX", "bottomY"))
    return Box(str(entry["label"]), float(entry["score"]), box, entry.get("polygon"))
