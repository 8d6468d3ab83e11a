"""Predictors of Ultralytics YOLO packages (object detection and instance segmentation).

The one definition of YOLO preprocessing and post-processing (docs/azure-compatibility.md §11.2,
§11.3):
letterbox each image to `img_size` x `img_size` (aspect ratio kept, the image scaled to fit
as in Ultralytics' training, padding colour 114 centred), `/255`; then class-aware NMS
(`box_score_thresh`, `nms_iou_thresh`, at most `max_det` boxes), the padding undone and the
boxes rescaled to the original image. Segmentation adds masks from the prototype
coefficients, cut to the image and resized to it, then polygons as for Mask R-CNN.

Trials validate through `YoloDetectionPredictor.detect` on the in-memory model, so the
metrics of a trial are those of its package at inference. Tiling (settings
`tile_grid_size`, ...) runs the full image plus tiles through `detect` and merges them with
the cross-tile NMS of engine/tasks/tiling.py.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from automl.engine.models._yolo import import_ultralytics
from automl.engine.predict._base import OnnxProgram, TaskPredictor, register_predictor
from automl.engine.predict._detection import DetectionPredictor, PolygonsFromMasks, tiling_settings
from automl.engine.tasks.detection import preprocess_images
from automl.engine.tasks.tiling import predict_tiled

PAD_VALUE = 114 / 255


def letterbox(image: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[float, int, int]]:
    """A [0, 1] CHW image scaled to fit `size` x `size` and centred on grey padding;
    returns the square image and (ratio, pad_x, pad_y) to undo it."""
    height, width = image.shape[-2:]
    ratio = size / max(height, width)
    new_h, new_w = max(1, round(height * ratio)), max(1, round(width * ratio))
    if (new_h, new_w) != (height, width):
        # antialias when shrinking: close to the INTER_AREA resize Ultralytics trains with
        image = F.interpolate(
            image[None], size=(new_h, new_w), mode="bilinear", antialias=ratio < 1
        )[0]
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = image.new_full((3, size, size), PAD_VALUE)
    canvas[:, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = image
    return canvas, (ratio, pad_x, pad_y)


def unletterbox_boxes(boxes: torch.Tensor, geometry, height: int, width: int) -> torch.Tensor:
    """Letterboxed xyxy pixels -> pixels of the original `width` x `height` image."""
    ratio, pad_x, pad_y = geometry
    shift = torch.tensor([pad_x, pad_y, pad_x, pad_y], dtype=boxes.dtype, device=boxes.device)
    boxes = (boxes - shift) / ratio
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    return boxes


def unletterbox_masks(masks: torch.Tensor, geometry, height: int, width: int) -> torch.Tensor:
    """Letterboxed [n, S, S] masks -> [n, 1, height, width] float masks of the original image."""
    ratio, pad_x, pad_y = geometry
    inner_h, inner_w = max(1, round(height * ratio)), max(1, round(width * ratio))
    cut = masks[:, pad_y : pad_y + inner_h, pad_x : pad_x + inner_w].float()
    if not len(cut):
        return cut.new_zeros((0, 1, height, width))
    return F.interpolate(cut[:, None], size=(height, width), mode="bilinear")


def split_outputs(outputs) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(predictions [B, 4 + nc (+32), N], prototypes or None) of an eval-mode YOLO forward."""
    first = outputs[0] if isinstance(outputs, tuple | list) else outputs
    if isinstance(first, tuple | list):  # segmentation: (predictions, prototypes)
        return first[0], first[1]
    return first, None


class YoloDetectionPredictor(DetectionPredictor):
    """Boxes `{"box", "label", "score"}` per image from a YOLO package (see module docstring)."""

    def __init__(self, model: nn.Module, meta: dict, settings: dict, device: torch.device):
        # not DetectionPredictor.__init__: it sets torchvision detector attributes
        TaskPredictor.__init__(self, model, meta, settings, device)
        import_ultralytics()
        self.img_size = int(settings["img_size"])
        self.score_threshold = float(settings["box_score_thresh"])
        self.nms_threshold = float(settings["nms_iou_thresh"])
        self.max_det = int(self.setting("max_det"))
        self.tile_grid, self.tile_overlap, self.tile_nms = tiling_settings(self)

    def preprocess(self, images: list[Image.Image]) -> list[torch.Tensor]:
        return preprocess_images(images)

    @torch.inference_mode()
    def detect(self, tensors: list[torch.Tensor]) -> list[dict]:
        """Detections of [0, 1] CHW images in their own pixels, labels 1-based (the layout
        of torchvision's detectors, which DetectionEvaluator and tiling take)."""
        if not tensors:
            return []
        boxes = [letterbox(t.to(self.device), self.img_size) for t in tensors]
        batch = torch.stack([image for image, _ in boxes])
        predictions, prototypes = split_outputs(self.model(batch))
        from ultralytics.utils.nms import non_max_suppression

        kept = non_max_suppression(
            predictions.float(),
            conf_thres=self.score_threshold,
            iou_thres=self.nms_threshold,
            max_det=self.max_det,
            nc=len(self.labels),
        )
        return [
            self.to_output(det, boxes[i][1], tensors[i].shape[-2:], prototypes, i)
            for i, det in enumerate(kept)
        ]

    def to_output(self, det: torch.Tensor, geometry, size, prototypes, index: int) -> dict:
        height, width = int(size[0]), int(size[1])
        output = {
            "boxes": unletterbox_boxes(det[:, :4].clone(), geometry, height, width).cpu(),
            "scores": det[:, 4].cpu(),
            "labels": det[:, 5].long().cpu() + 1,
        }
        if prototypes is not None:
            from ultralytics.utils.ops import process_mask

            square = (self.img_size, self.img_size)
            masks = process_mask(prototypes[index], det[:, 6:], det[:, :4], square, upsample=True)
            output["masks"] = unletterbox_masks(masks, geometry, height, width).cpu()
        return output

    def forward(self, tensors: list[torch.Tensor]) -> list[dict]:
        if self.tile_grid is None:
            return self.detect(tensors)
        return [
            predict_tiled(self.detect, t, self.tile_grid, self.tile_overlap, self.tile_nms)
            for t in tensors
        ]

    def onnx_program(
        self, *, batch_size: int = 1, dynamic_batch: bool = False, normalization: bool = False
    ) -> OnnxProgram:
        """Azure's YOLO graph (§11.1): `input` (batch, 3, img_size, img_size) letterboxed
        [0, 1] pixels (0-255 with `normalization`) -> `output` raw predictions in the
        Ultralytics layout `detect` takes, (batch, 4 + classes, anchors) with xywh boxes
        (segmentation: 32 mask coefficients more, and `protos`); NMS stays outside."""
        segmentation = self.task.masks
        outputs = ["output", "protos"] if segmentation else ["output"]
        model = copy.deepcopy(self.model).cpu()  # serving keeps its own
        module = YoloOnnxModule(model, normalization).eval()
        example = torch.rand(batch_size, 3, self.img_size, self.img_size)
        axes = {name: {0: "batch"} for name in ["input", *outputs]} if dynamic_batch else {}
        return OnnxProgram(
            module=module,
            example=(example * 255 if normalization else example,),
            input_names=["input"],
            output_names=outputs,
            dynamic_axes=axes,
            min_opset=11,
            inputs=lambda images: (self.onnx_inputs(images, normalization),),
            tolerance=1e-3,  # box coordinates are letterbox pixels, up to img_size
        )

    def onnx_inputs(self, images: list[Image.Image], normalization: bool) -> torch.Tensor:
        """Letterboxed images, stacked: the very input of `detect`."""
        batch = torch.stack([letterbox(t, self.img_size)[0] for t in self.preprocess(images)])
        return batch * 255.0 if normalization else batch


class YoloOnnxModule(nn.Module):
    """An eval-mode YOLO reduced to its predictions (and prototypes for segmentation)."""

    def __init__(self, model: nn.Module, normalization: bool) -> None:
        super().__init__()
        self.model = model
        self.normalization = normalization

    def forward(self, batch: torch.Tensor):
        if self.normalization:
            batch = batch / 255.0
        predictions, prototypes = split_outputs(self.model(batch))
        return predictions if prototypes is None else (predictions, prototypes)


class YoloSegmentationPredictor(PolygonsFromMasks, YoloDetectionPredictor):
    """Boxes plus polygons traced from each prototype mask."""


register_predictor("detection", "ultralytics", YoloDetectionPredictor)
register_predictor("segmentation", "ultralytics", YoloSegmentationPredictor)
