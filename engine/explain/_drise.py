"""D-RISE (Petsiuk et al., "Black-box Explanation of Object Detectors via Saliency Maps",
CVPR 2021): which pixels made the detector find each object.

`n_masks` random binary grids of `mask_res` x `mask_res` cells (each cell kept with
probability 1/2) are upsampled bilinearly to cells of ceil(H / mask_res) x ceil(W / mask_res)
pixels and shifted at random by up to one cell, as in RISE; the image is multiplied by each
mask (masked pixels go black) and the masked copies go through the detector in batches.
For each object t of the unmasked image, mask i weighs w_it = max_j s(t, d_ij) over the
detections d_ij of masked copy i, and the saliency of t is sum_i w_it M_i / n_masks.

Similarity. The paper's s(t, d) = IoU(box_t, box_d) x cos(p_t, p_d) x objectness_d, with
class-probability vectors p. Where the model family reports them (a `probs` entry in its
raw output) that is what is used (objectness 1). The predictors of this project report,
per box, one label and its score (Faster R-CNN, RetinaNet and Mask R-CNN after torchvision's
per-class split, YOLO after its NMS): each detection is then a one-hot class vector scaled
by its score, so cos() is 1 for the same label and 0 otherwise, and the score stands for
the objectness: s = IoU x [same label] x score.

Default mask count. The run time is n_masks forward passes. With `n_masks` left out, it is
chosen per model and image so that the explanation takes about 10 s on one GPU:
n_masks = 8 s x 10 TFLOP/s / (FLOPs of one forward pass of this image), rounded down to a
multiple of 50 and kept within [100, 2000]. The FLOPs are counted (with torch's flop formulas)
on the unmasked pass the objects come from; 10 TFLOP/s is what a torchvision detector
sustains in batched fp32/TF32 inference on a data-centre GPU (an estimate: A100/H100-class
GPUs peak at 156-495 TF32 TFLOP/s, detectors reach a few percent of it); the other 2 s are
left for the masks, the similarities and the first CUDA call. At a 640 x 480 image: Faster
R-CNN R50-FPN (210 GFLOPs at min_size 600) gets 350 masks, Mask R-CNN R50-FPN (313 GFLOPs)
250, YOLOv8m (79 GFLOPs at 640) 1000; bench/xai.py measures the seconds (CPU, and GPU when
lent).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from automl.engine.explain._base import (
    ExplainCancelled,
    ExplainParameters,
    ObjectAttributionMethod,
    StopCheck,
    register_object_method,
)
from automl.engine.explain._detector import Detections, Detector

logger = logging.getLogger("automl.explain")

KEEP_PROBABILITY = 0.5  # RISE's p: each grid cell is kept with this probability
GPU_FLOPS_PER_SECOND = 10e12
MODEL_SECONDS = 8.0  # of the 10 s budget per image
N_MASKS_RANGE = (100, 2000)
N_MASKS_STEP = 50


def default_n_masks(flops_per_image: float) -> int:
    """The mask count when none is given: MODEL_SECONDS of detector work at
    GPU_FLOPS_PER_SECOND (see the module docstring), within N_MASKS_RANGE."""
    low, high = N_MASKS_RANGE
    if flops_per_image <= 0:  # nothing counted (not a torch model): the most
        return high
    n = MODEL_SECONDS * GPU_FLOPS_PER_SECOND / flops_per_image
    return int(min(max(n // N_MASKS_STEP * N_MASKS_STEP, low), high))


def random_grids(n_masks: int, mask_res: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All masks' cells (uint8 [n, res, res], 1 = kept) and their shifts (int64 [n, 2],
    in [0, 1) of a cell), drawn on the CPU from `seed`: the same masks on every device
    and at every batch size."""
    generator = torch.Generator().manual_seed(seed)
    cells = torch.rand(n_masks, mask_res, mask_res, generator=generator) < KEEP_PROBABILITY
    shifts = torch.rand(n_masks, 2, generator=generator)
    return cells.to(torch.uint8), shifts


@torch.no_grad()
def upsample_masks(
    cells: torch.Tensor, shifts: torch.Tensor, height: int, width: int, device: torch.device
) -> torch.Tensor:
    """RISE's masks of a batch of grids: float [b, 1, height, width] in [0, 1], on `device`.

    Each grid of res x res cells is upsampled bilinearly to (res + 1) cells of
    ceil(height / res) x ceil(width / res) pixels, then cut at its shift (up to one cell):
    smooth masks whose cell edges fall anywhere.
    """
    res = cells.shape[-1]
    cell_h, cell_w = math.ceil(height / res), math.ceil(width / res)
    grids = cells.to(device=device, dtype=torch.float32)[:, None]
    big = F.interpolate(grids, size=((res + 1) * cell_h, (res + 1) * cell_w), mode="bilinear")
    offsets = (shifts * torch.tensor([cell_h, cell_w])).long().tolist()
    return torch.stack(
        [big[i, :, y : y + height, x : x + width] for i, (y, x) in enumerate(offsets)]
    )


def similarity(targets: Detections, found: Detections) -> torch.Tensor:
    """max over `found` of s(target, detection), per target: float [len(targets)]."""
    if not len(found):
        return torch.zeros(len(targets))
    iou = box_iou(targets.boxes, found.boxes)
    if targets.probs is not None and found.probs is not None:
        classes = F.normalize(targets.probs, dim=1) @ F.normalize(found.probs, dim=1).T
        return (iou * classes).max(dim=1).values
    same = (targets.labels[:, None] == found.labels[None, :]).float()
    return (iou * same * found.scores[None, :]).max(dim=1).values


@register_object_method
class DriseMethod(ObjectAttributionMethod):
    """D-RISE (`drise`): black-box saliency of each detected object (see module docstring)."""

    name = "drise"

    def attribute_objects(
        self,
        detector: Detector,
        image: torch.Tensor,
        targets: Detections,
        params: ExplainParameters,
        should_stop: StopCheck | None = None,
    ) -> np.ndarray:
        height, width = image.shape[-2:]
        saliency = torch.zeros(len(targets), height, width, device=image.device)
        n_masks = int(params.n_masks or N_MASKS_RANGE[1])
        cells, shifts = random_grids(n_masks, params.mask_res, params.seed)
        step = detector.batch_size
        for start in range(0, n_masks if len(targets) else 0, step):
            if should_stop is not None and should_stop():
                raise ExplainCancelled
            batch = slice(start, start + step)
            masks = upsample_masks(cells[batch], shifts[batch], height, width, image.device)
            weights = masked_weights(detector, image, masks, targets).to(image.device)
            saliency += torch.einsum("bt,bhw->thw", weights, masks[:, 0])
        return (saliency / n_masks).cpu().numpy()


@torch.no_grad()
def masked_weights(
    detector: Detector, image: torch.Tensor, masks: torch.Tensor, targets: Detections
) -> torch.Tensor:
    """w_it of a batch of masks: float [b, len(targets)]."""
    found = detector(list((image[None] * masks).unbind(0)))
    return torch.stack([similarity(targets, detections) for detections in found])
