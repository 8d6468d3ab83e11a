"""A Transformers DETR-family model behind torchvision's detector interface.

`HfDetector` takes what a torchvision detector takes and returns what it returns, so the
detection trainer, the evaluator, tiling and the predictors use it unchanged:

- eval: a list of [0, 1] CHW images of any size -> one dict per image with `boxes` (xyxy,
  pixels of that image), `scores`, `labels` (1-based, 0 is torchvision's background) and,
  for a segmentation model, `masks` [N, 1, H, W] pixel probabilities;
- train: (images, targets with `boxes` xyxy pixels, `labels` 1-based[, `masks` [N, H, W]])
  -> {"loss": the model's Hungarian-matched loss}.

Inside, as Transformers' image processors do: each image is resized so that its short side
is `min_size` and its long side at most `max_size`, normalised (mean/std; RT-DETR-type
models only rescale), and the batch is padded at the bottom right to a multiple of 32 with
a `pixel_mask`. Boxes are normalised (cx, cy, w, h) against the padded canvas both for the
loss and when decoding predictions, so the two agree. Scores: softmax without the
"no object" class for models that have one (DETR), else a sigmoid per class (Deformable,
Conditional DETR, RT-DETR: focal-loss heads); each query keeps its best class.

Nothing here imports Transformers: engine/models/_hf_detection.py builds the wrapped model.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

PAD_MULTIPLE = 32


class HfDetector(nn.Module):
    """See the module docstring. `model` is a Transformers `*ForObjectDetection` or
    `DetrForSegmentation`; `mean`/`std` of its image processor."""

    def __init__(
        self,
        model: nn.Module,
        *,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        settings: dict,
    ) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)
        self.with_masks = hasattr(model, "mask_head")
        self.takes_pixel_mask = "pixel_mask" in inspect.signature(model.forward).parameters
        self.apply_settings(settings)

    def apply_settings(self, settings: dict) -> None:
        """Resize and post-processing from package settings (runtime names)."""
        self.min_size = int(settings["min_size"])
        self.max_size = int(settings["max_size"])
        self.score_thresh = float(settings["box_score_thresh"])
        self.detections_per_img = int(settings["box_detections_per_img"])

    @property
    def config(self):
        return self.model.config

    def package_record(self) -> dict:
        """What model.pt records beside the state dict: the config.json content."""
        from automl.engine.models._hf import config_record

        return {"hf_config": config_record(self.model)}

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        scales = [self.scale_of(image) for image in images]
        pixels, pixel_mask = self.batch(images, scales)
        inputs = {"pixel_values": pixels}
        if self.takes_pixel_mask:
            inputs["pixel_mask"] = pixel_mask
        if self.training:
            if targets is None:
                raise ValueError("HfDetector in training mode needs targets")
            labels = [
                self.hf_target(target, scale, pixels.shape[-2:])
                for target, scale in zip(targets, scales, strict=True)
            ]
            return {"loss": self.model(**inputs, labels=labels).loss}
        outputs = self.model(**inputs)
        return [
            self.decode(outputs, i, image.shape[-2:], scale, pixels.shape[-2:])
            for i, (image, scale) in enumerate(zip(images, scales, strict=True))
        ]

    def scale_of(self, image: torch.Tensor) -> float:
        """torchvision's rule: short side to min_size unless the long side passes max_size."""
        height, width = image.shape[-2:]
        return min(self.min_size / min(height, width), self.max_size / max(height, width))

    def batch(self, images: list[torch.Tensor], scales: list[float]) -> tuple:
        """Resized, normalised images padded into one tensor, and the mask of real pixels."""
        resized = [
            F.interpolate(
                image[None], scale_factor=scale, mode="bilinear", recompute_scale_factor=True
            )[0]
            for image, scale in zip(images, scales, strict=True)
        ]
        height = _round_up(max(r.shape[-2] for r in resized))
        width = _round_up(max(r.shape[-1] for r in resized))
        pixels = resized[0].new_zeros(len(resized), 3, height, width)
        pixel_mask = torch.zeros(
            len(resized), height, width, dtype=torch.long, device=pixels.device
        )
        for i, image in enumerate(resized):
            h, w = image.shape[-2:]
            pixels[i, :, :h, :w] = (image - self.mean) / self.std
            pixel_mask[i, :h, :w] = 1
        return pixels, pixel_mask

    def hf_target(self, target: dict, scale: float, canvas: tuple[int, int]) -> dict:
        """Our target -> Transformers' labels: 0-based class_labels, boxes (cx, cy, w, h)
        normalised to the padded canvas, masks resized onto it."""
        height, width = canvas
        boxes = target["boxes"].float() * scale
        x0, y0, x1, y1 = boxes.unbind(-1)
        cxcywh = torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1)
        size = torch.tensor([width, height, width, height], dtype=torch.float32)
        labels = {
            "class_labels": target["labels"] - 1,
            "boxes": (cxcywh / size.to(cxcywh.device)).clamp(0, 1),
        }
        if self.with_masks:
            labels["masks"] = self.canvas_masks(target["masks"], scale, canvas)
        return labels

    def canvas_masks(
        self, masks: torch.Tensor, scale: float, canvas: tuple[int, int]
    ) -> torch.Tensor:
        out = masks.new_zeros((masks.shape[0], *canvas), dtype=torch.float32)
        if masks.shape[0] == 0:
            return out
        resized = F.interpolate(
            masks[None].float(), scale_factor=scale, mode="nearest", recompute_scale_factor=True
        )[0]
        h, w = resized.shape[-2:]
        out[:, :h, :w] = resized
        return out

    def decode(self, outputs, i: int, size: tuple[int, int], scale: float, canvas) -> dict:
        """Image i's detections in pixels of its original size, best first."""
        logits = outputs.logits[i].float()
        if logits.shape[-1] == self.config.num_labels + 1:  # DETR: last class is "no object"
            probs = logits.softmax(-1)[:, :-1]
        else:
            probs = logits.sigmoid()
        scores, labels = probs.max(-1)
        keep = torch.nonzero(scores > self.score_thresh).flatten()
        keep = keep[scores[keep].argsort(descending=True)][: self.detections_per_img]
        height, width = size
        boxes = (
            _xyxy(outputs.pred_boxes[i, keep].float())
            * torch.tensor([canvas[1], canvas[0], canvas[1], canvas[0]], device=logits.device)
            / scale
        )
        limits = torch.tensor([width, height, width, height], device=logits.device)
        result = {
            "boxes": torch.minimum(boxes.clamp(min=0), limits),
            "scores": scores[keep],
            "labels": labels[keep] + 1,
        }
        if self.with_masks:
            result["masks"] = self.decode_masks(outputs.pred_masks[i, keep], size, scale, canvas)
        return result

    def decode_masks(self, masks: torch.Tensor, size, scale: float, canvas) -> torch.Tensor:
        """Mask logits at a fraction of the canvas -> [N, 1, H, W] probabilities."""
        if masks.shape[0] == 0:
            return masks.new_zeros((0, 1, *size))
        full = F.interpolate(masks[None].float(), size=tuple(canvas), mode="bilinear")[0]
        h = min(canvas[0], math.ceil(size[0] * scale))
        w = min(canvas[1], math.ceil(size[1] * scale))
        image = F.interpolate(full[None, :, :h, :w], size=tuple(size), mode="bilinear")[0]
        return image.sigmoid()[:, None]


def _round_up(value: int) -> int:
    return int(math.ceil(value / PAD_MULTIPLE) * PAD_MULTIPLE)


def _xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
