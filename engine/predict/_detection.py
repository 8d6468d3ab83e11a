"""Predictors of object detection and instance segmentation (docs/azure-compatibility.md §7.2, §9,
§10.3).

Preprocessing is the validation one of engine/tasks/detection.py (the image as a [0, 1]
tensor; the model resizes and normalises inside). With `tile_grid_size` in the settings
(settings.json, or an override), each image is predicted as the full image plus its tiles
merged by the cross-tile NMS, whether or not the model was trained with tiles. Boxes are
normalised to the original image; instance segmentation adds polygons traced from the
masks (`mask_pixel_score_threshold`, `max_number_of_polygon_points`).
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from automl.engine.models._detection import apply_inference_settings
from automl.engine.predict._base import OnnxProgram, PredictError, TaskPredictor, register_predictor
from automl.engine.tasks.detection import preprocess_images
from automl.engine.tasks.tiling import parse_tile_grid, predict_tiled

logger = logging.getLogger("automl.predict")


def tiling_settings(predictor: TaskPredictor) -> tuple:
    """(tile grid or None, overlap ratio, NMS threshold of merged tiles) of a package; a
    task that does not tile (instance segmentation, docs/azure-compatibility.md §9) has no grid."""
    grid = predictor.settings.get("tile_grid_size")
    if not grid or not predictor.task.tiling:
        return None, None, None
    return (
        parse_tile_grid(grid),
        float(predictor.setting("tile_overlap_ratio")),
        float(predictor.setting("tile_predictions_nms_thresh")),
    )


class DetectionPredictor(TaskPredictor):
    """Boxes `{"box": {topX, topY, bottomX, bottomY}, "label", "score"}` per image."""

    def __init__(self, model: nn.Module, meta: dict, settings: dict, device: torch.device):
        super().__init__(model, meta, settings, device)
        apply_inference_settings(self.model, settings)
        self.score_threshold = float(settings["box_score_thresh"])
        self.tile_grid, self.tile_overlap, self.tile_nms = tiling_settings(self)

    def preprocess(self, images: list[Image.Image]) -> list[torch.Tensor]:
        return preprocess_images(images)

    @torch.inference_mode()
    def forward(self, tensors: list[torch.Tensor]) -> list[dict]:
        """Raw detector outputs (pixel boxes, 1-based labels) on the CPU."""
        tensors = [t.to(self.device) for t in tensors]
        if self.tile_grid is None:
            outputs = self.model(tensors)
        else:
            outputs = [
                predict_tiled(self.model, t, self.tile_grid, self.tile_overlap, self.tile_nms)
                for t in tensors
            ]
        return [{k: v.cpu() for k, v in output.items()} for output in outputs]

    def predict_batch(self, images: list[Image.Image]) -> list[dict]:
        if not images:
            return []
        outputs = self.forward(self.preprocess(images))
        return [
            self.response(output, image.size) for output, image in zip(outputs, images, strict=True)
        ]

    def response(self, output: dict, size: tuple[int, int]) -> dict:
        width, height = size
        boxes = []
        for i in torch.nonzero(output["scores"] > self.score_threshold).flatten().tolist():
            boxes.append(self.box_entry(output, i, width, height))
        return {"boxes": boxes}

    def box_entry(self, output: dict, i: int, width: int, height: int) -> dict:
        x0, y0, x1, y1 = output["boxes"][i].tolist()
        return {
            "box": {
                "topX": min(max(x0 / width, 0.0), 1.0),
                "topY": min(max(y0 / height, 0.0), 1.0),
                "bottomX": min(max(x1 / width, 0.0), 1.0),
                "bottomY": min(max(y1 / height, 0.0), 1.0),
            },
            "label": self.labels[int(output["labels"][i]) - 1],
            "score": float(output["scores"][i]),
        }

    def evaluate(self, truth: list, predictions: list[dict]) -> dict:
        """VOC box metrics of response objects against normalised labels (IoU does not
        change when both sides are scaled by the image size, so normalised boxes suffice;
        segmentation is scored on the polygons' boxes here)."""
        evaluator = self.task.evaluator(
            self.labels, iou_threshold=float(self.setting("validation_iou_threshold"))
        )
        index = {name: i + 1 for i, name in enumerate(self.labels)}
        for objects, prediction in zip(truth, predictions, strict=True):
            evaluator.add(self.prediction_arrays(prediction, index), truth_arrays(objects, index))
        return evaluator.compute().values

    def prediction_arrays(self, prediction: dict, index: dict) -> dict:
        boxes = prediction["boxes"]
        return {
            "boxes": np.array([box_coordinates(b["box"]) for b in boxes]).reshape(-1, 4),
            "scores": np.array([b["score"] for b in boxes]),
            "labels": np.array([index.get(b["label"], 0) for b in boxes], dtype=np.int64),
        }

    def onnx_program(
        self, *, batch_size: int = 1, dynamic_batch: bool = False, normalization: bool = False
    ) -> OnnxProgram:
        """Azure's R-CNN graph (§11.1): `input` (batch, 3, H, W), [0, 1] pixels (0-255 with
        `normalization`), H x W fixed (`onnx_size`); per image i `boxes_i, labels_i,
        scores_i` (RetinaNet: boxes, scores, labels; Mask R-CNN adds `masks_i`) in input
        pixels. The detector's own transform resizes and normalises inside the graph."""
        if dynamic_batch:
            raise PredictError(
                f"{self.meta.get('model_name')}: a dynamic batch is not exportable for object "
                "detection/segmentation: the graph has named outputs per image (boxes_0, ...)",
                hint="export with a fixed --batch-size instead of --dynamic-batch",
            )
        if self.tile_grid is not None:
            logger.warning("tiling is not part of the ONNX graph: it predicts whole images")
        fields = detector_output_fields(self.model)
        names = [f"{field}_{i}" for i in range(batch_size) for field in fields]
        height, width = self.onnx_size()
        model = copy.deepcopy(self.model).cpu()  # serving keeps its own
        module = DetectorOnnxModule(model, fields, normalization).eval()
        return OnnxProgram(
            module=module,
            example=(torch.rand(batch_size, 3, height, width) * (255 if normalization else 1),),
            input_names=["input"],
            output_names=names,
            # the number of detections varies per image (Azure's `prediction` axes)
            dynamic_axes={name: {0: f"prediction_{name.rsplit('_', 1)[1]}"} for name in names},
            min_opset=11,
            inputs=lambda images: (self.onnx_inputs(images, normalization),),
            tolerance=1e-3,
        )

    def onnx_size(self) -> tuple[int, int]:
        """(height, width) of the graph input: `height_onnx`/`width_onnx` from the settings,
        else min_size x (4/3 min_size, at most max_size), Azure's 600 x 800 at the defaults."""
        min_size, max_size = int(self.settings["min_size"]), int(self.settings["max_size"])
        height = int(self.settings.get("height_onnx") or min_size)
        width = int(self.settings.get("width_onnx") or min(max_size, round(min_size * 4 / 3)))
        return height, width

    def onnx_inputs(self, images: list[Image.Image], normalization: bool) -> torch.Tensor:
        """Images resized to the graph's H x W (boxes come back in those pixels), stacked."""
        size = self.onnx_size()
        resized = [
            F.interpolate(t[None], size=size, mode="bilinear", antialias=True)[0].clamp(0, 1)
            for t in self.preprocess(images)
        ]
        batch = torch.stack(resized)
        return batch * 255.0 if normalization else batch


def detector_output_fields(model: nn.Module) -> tuple[str, ...]:
    """Azure's per-image output order of a torchvision detector's family."""
    heads = getattr(model, "roi_heads", None)
    if heads is None:
        return ("boxes", "scores", "labels")  # RetinaNet
    if heads.has_mask():
        return ("boxes", "labels", "scores", "masks")
    return ("boxes", "labels", "scores")


class DetectorOnnxModule(nn.Module):
    """A batch tensor in, the flat tuple of per-image outputs out (what ONNX can name)."""

    def __init__(self, model: nn.Module, fields: tuple[str, ...], normalization: bool) -> None:
        super().__init__()
        self.model = model
        self.fields = fields
        self.normalization = normalization

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.normalization:
            batch = batch / 255.0
        outputs = self.model(list(batch.unbind(0)))
        return tuple(output[field] for output in outputs for field in self.fields)


def box_coordinates(box: dict) -> list[float]:
    """xyxy of a box object; a polygon-only object (segmentation labels) gives its extent."""
    if "topX" not in box and "polygon" in box:
        xs = [v for segment in box["polygon"] for v in segment[0::2]]
        ys = [v for segment in box["polygon"] for v in segment[1::2]]
        return [min(xs), min(ys), max(xs), max(ys)]
    return [box["topX"], box["topY"], box["bottomX"], box["bottomY"]]


def truth_arrays(objects: list[dict], index: dict) -> dict:
    return {
        "boxes": np.array([box_coordinates(o) for o in objects]).reshape(-1, 4),
        "labels": np.array([index.get(o["label"], 0) for o in objects], dtype=np.int64),
        "iscrowd": np.array([bool(o.get("isCrowd")) for o in objects]),
    }


class PolygonsFromMasks:
    """Instance segmentation: each box entry gets `polygon`, [[x1, y1, ...], ...]
    normalised, traced from its thresholded mask (`mask_pixel_score_threshold`,
    `max_number_of_polygon_points`). Mixed into the torchvision and YOLO predictors."""

    def __init__(self, model: nn.Module, meta: dict, settings: dict, device: torch.device):
        super().__init__(model, meta, settings, device)
        self.mask_threshold = float(self.setting("mask_pixel_score_threshold"))
        self.max_points = int(self.setting("max_number_of_polygon_points"))

    def box_entry(self, output: dict, i: int, width: int, height: int) -> dict:
        from automl.engine.data.masks import mask_to_polygons

        entry = DetectionPredictor.box_entry(self, output, i, width, height)
        mask = (output["masks"][i, 0] > self.mask_threshold).numpy()
        entry["polygon"] = [
            [v / (width if j % 2 == 0 else height) for j, v in enumerate(polygon)]
            for polygon in mask_to_polygons(mask, self.max_points)
        ]
        return entry


class InstanceSegmentationPredictor(PolygonsFromMasks, DetectionPredictor):
    """Boxes plus polygons from Mask R-CNN's masks."""


register_predictor("detection", "torch", DetectionPredictor)
register_predictor("segmentation", "torch", InstanceSegmentationPredictor)
