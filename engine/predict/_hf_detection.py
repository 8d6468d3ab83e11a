"""Predictors of Transformers' DETR-family models ("transformers" runtime).

The wrapped model (engine/models/_hf_detector.py) answers like a torchvision detector, so
responses, polygons, evaluation and tiling are those of engine/predict/_detection.py; the
settings (resize, score threshold, detections per image) are applied to the wrapper, which
has no torchvision transform or RoI heads. ONNX export: the graph takes a fixed-size batch
and returns per image `boxes_i, labels_i, scores_i` (and `masks_i` for segmentation) in
input pixels, like the R-CNN graph; the wrapper's resize, padding and decoding are traced
with it.
"""

from __future__ import annotations

import torch
from torch import nn

from automl.engine.predict._base import OnnxProgram, TaskPredictor, register_predictor
from automl.engine.predict._detection import (
    DetectionPredictor,
    PolygonsFromMasks,
    tiling_settings,
)


class HfDetectionPredictor(DetectionPredictor):
    """Boxes `{"box": {topX, topY, bottomX, bottomY}, "label", "score"}` per image."""

    def __init__(self, model: nn.Module, meta: dict, settings: dict, device: torch.device):
        TaskPredictor.__init__(self, model, meta, settings, device)
        self.model.apply_settings(settings)
        self.score_threshold = float(settings["box_score_thresh"])
        self.tile_grid, self.tile_overlap, self.tile_nms = tiling_settings(self)

    def output_fields(self) -> tuple[str, ...]:
        fields = ("boxes", "labels", "scores")
        return fields + ("masks",) if self.task.masks else fields

    def onnx_program(
        self, *, batch_size: int = 1, dynamic_batch: bool = False, normalization: bool = False
    ) -> OnnxProgram:
        program = super().onnx_program(
            batch_size=batch_size, dynamic_batch=dynamic_batch, normalization=normalization
        )
        program.module.fields = self.output_fields()
        program.output_names = [
            f"{field}_{i}" for i in range(batch_size) for field in self.output_fields()
        ]
        program.dynamic_axes = {
            name: {0: f"prediction_{name.rsplit('_', 1)[1]}"} for name in program.output_names
        }
        return program


class HfInstanceSegmentationPredictor(PolygonsFromMasks, HfDetectionPredictor):
    """Boxes plus polygons from DETR's mask head."""


register_predictor("detection", "transformers", HfDetectionPredictor)
register_predictor("segmentation", "transformers", HfInstanceSegmentationPredictor)
