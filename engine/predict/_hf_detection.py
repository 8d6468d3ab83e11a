"""Predictors of Transformers' DETR-family models ("transformers" runtime).

The wrapped model (engine/models/_hf_detector.py) answers like a torchvision detector, so
responses, polygons, evaluation and tiling are those of engine/predict/_detection.py; the
settings (resize, score threshold, detections per image) are applied to the wrapper, which
has no torchvision transform or RoI heads. ONNX export: the graph takes a fixed-size batch
and returns per image `boxes_i, labels_i, scores_i` (and `masks_i` for segmentation) in
input pixels, like the R-CNN graph; the wrapper's resize, padding and decoding are traced
with it. Models with multi-scale deformable attention (Deformable DETR, RT-DETR, D-FINE)
are refused: it traces to GridSample, which ONNX Runtime's CPU provider does not run
(measured with Deformable DETR on torch 2.14 / opset 17).
"""

from __future__ import annotations

import torch
from torch import nn

from automl.engine.predict._base import OnnxProgram, PredictError, TaskPredictor, register_predictor
from automl.engine.predict._detection import (
    DetectionPredictor,
    PolygonsFromMasks,
    tiling_settings,
)

# model types whose attention samples feature maps with grid_sample
DEFORMABLE_TYPES = frozenset({"deformable_detr", "rt_detr", "rt_detr_v2", "d_fine"})


class HfDetectionPredictor(DetectionPredictor):
    """Boxes `{"box": {topX, topY, bottomX, bottomY}, "label", "score"}` per image."""

    def __init__(self, model: nn.Module, meta: dict, settings: dict, device: torch.device):
        TaskPredictor.__init__(self, model, meta, settings, device)
        self.model.apply_settings(settings)
        self.score_threshold = float(settings["box_score_thresh"])
        self.tile_grid, self.tile_overlap, self.tile_nms = tiling_settings(self)

    def check_exportable(self) -> None:
        """A one-line refusal for the model types ONNX Runtime cannot run."""
        model_type = self.model.config.model_type
        if model_type in DEFORMABLE_TYPES:
            raise PredictError(
                f"{self.meta.get('model_name')}: ONNX export of {model_type} models is not "
                "supported: their multi-scale deformable attention exports as GridSample, "
                "which ONNX Runtime's CPU provider does not run",
                hint="serve or predict with the model package itself, or train a DETR model "
                "(facebook/detr-resnet-50) to export",
            )

    def output_fields(self) -> tuple[str, ...]:
        fields = ("boxes", "labels", "scores")
        return fields + ("masks",) if self.task.masks else fields

    def onnx_program(
        self, *, batch_size: int = 1, dynamic_batch: bool = False, normalization: bool = False
    ) -> OnnxProgram:
        self.check_exportable()
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
