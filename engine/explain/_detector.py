"""A predictor of detection or instance segmentation seen as a black box, for D-RISE.

`Detector(predictor)` runs batches of [3, H, W] images in [0, 1] (on the predictor's
device) and returns each image's `Detections`: pixel boxes, 0-based label indices, scores,
and the class-probability vectors where the model family reports them (`probs` in its raw
output). Any `automl.engine.predict.Predictor` of these tasks works: Faster R-CNN,
RetinaNet, Mask R-CNN and YOLO alike.

Two paths, the same answers: the task predictor's raw `forward(tensors)` (the tensors stay
on the device: no round trip through PIL), used where the task predictor has one, else the
public `predict(images)` on PIL copies of the masked images (its normalised boxes scaled
back to pixels). The objects to explain always come from `predict` on the unmasked image:
exactly the boxes a scoring request answers with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

BOX_KEYS = ("topX", "topY", "bottomX", "bottomY")


@dataclass
class Detections:
    """The objects found in one image, on the CPU."""

    boxes: torch.Tensor  # [n, 4] float32, xyxy pixels of the image
    labels: torch.Tensor  # [n] int64, index into the predictor's labels
    scores: torch.Tensor  # [n] float32
    probs: torch.Tensor | None = None  # [n, classes] where the model family reports them

    def __len__(self) -> int:
        return int(self.scores.numel())

    def take(self, index: torch.Tensor | list[int]) -> Detections:
        """The detections at `index`, in that order."""
        index = torch.as_tensor(index, dtype=torch.long)
        probs = None if self.probs is None else self.probs[index]
        return Detections(self.boxes[index], self.labels[index], self.scores[index], probs)

    @classmethod
    def empty(cls) -> Detections:
        return cls(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0))


class Detector:
    """`detector(images)` -> one `Detections` per [3, H, W] image in [0, 1]."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.labels = list(predictor.labels)
        self.device = torch.device(predictor.device)
        self.batch_size = int(getattr(predictor, "batch_size", 0) or 16)
        raw = getattr(getattr(predictor, "task_predictor", None), "forward", None)
        self.raw_forward = raw if callable(raw) else None

    @property
    def fast(self) -> bool:
        """True when masked images go through the raw forward pass (no PIL round trip)."""
        return self.raw_forward is not None

    def image_tensor(self, image: Image.Image) -> torch.Tensor:
        """The predictor's input of `image`: [3, H, W] in [0, 1], on the device."""
        return self.predictor.preprocess([image])[0].to(self.device)

    def reference(self, image: Image.Image) -> Detections:
        """The objects the predictor reports for `image` (its response's boxes, in order)."""
        [response] = self.predictor.predict([image])
        return self.from_response(response, image.size)

    def __call__(self, images: list[torch.Tensor]) -> list[Detections]:
        if self.raw_forward is not None:
            return [self.from_raw(output) for output in self.raw_forward(images)]
        pil = [tensor_to_pil(image) for image in images]
        responses = self.predictor.predict(pil, batch_size=self.batch_size)
        return [self.from_response(r, p.size) for r, p in zip(responses, pil, strict=True)]

    def from_raw(self, output: dict) -> Detections:
        """A raw detector output (pixel boxes, 1-based labels) as Detections."""
        probs = output.get("probs")
        return Detections(
            boxes=output["boxes"].detach().float().cpu().reshape(-1, 4),
            labels=output["labels"].detach().long().cpu() - 1,
            scores=output["scores"].detach().float().cpu(),
            probs=None if probs is None else probs.detach().float().cpu(),
        )

    def from_response(self, response: dict, size: tuple[int, int]) -> Detections:
        """A response object (normalised boxes, label names) as Detections."""
        entries = response.get("boxes") or []
        if not entries:
            return Detections.empty()
        width, height = size
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        boxes = torch.tensor([[e["box"][k] for k in BOX_KEYS] for e in entries]) * scale
        index = {name: i for i, name in enumerate(self.labels)}
        labels = torch.tensor([index.get(e["label"], -1) for e in entries], dtype=torch.long)
        scores = torch.tensor([float(e["score"]) for e in entries], dtype=torch.float32)
        return Detections(boxes.float(), labels, scores)


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """A [3, H, W] tensor in [0, 1] as an RGB PIL image."""
    array = (image.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(array))
