"""Explain a detector's or instance segmenter's objects (our extension of
docs/azure-compatibility.md §7.3).

The objects are the boxes the predictor reports for the image (a scoring request's
`boxes`), the highest-scoring `drise_objects` of them; each gets a saliency map from an
object method (`drise`). The image is first scaled down to fit `drise_image_side` when
larger (schemas/limits.json): the maps have that image's size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from automl.engine.explain._base import OBJECT_METHODS, ExplainParameters, StopCheck
from automl.engine.explain._detector import BOX_KEYS, Detections, Detector
from automl.engine.explain._visualize import png_base64, png_bytes, render_objects

logger = logging.getLogger("automl.explain")
# The endpoint answers each map scaled down to fit this side (its JSON would otherwise
# carry the image's pixel count per object); the files keep the full maps.
RESPONSE_MAP_SIDE = 256
RESPONSE_DECIMALS = 6


@dataclass
class ObjectExplanation:
    """The explanation of one image's objects; `maps[i]` explains `objects[i]`."""

    objects: list[dict]  # {"box": {topX, topY, bottomX, bottomY} normalised, "label", "score"}
    n_detected: int  # objects the predictor found (the first len(objects) are explained)
    n_masks: int
    maps: np.ndarray  # float32 [objects, H, W]
    visualization: bytes | None = None  # PNG


def explain_objects(
    predictor: Any,
    image: Image.Image,
    params: ExplainParameters,
    should_stop: StopCheck | None = None,
) -> ObjectExplanation:
    """Explain the objects `predictor` finds in `image` with checked, task-resolved `params`
    (`ExplainParameters.checked().for_task(task)`)."""
    from automl.schemas import limit

    image = fit_side(image.convert("RGB"), limit("drise_image_side"))
    detector = Detector(predictor)
    found, flops = run_counted(lambda: detector.reference(image), count=params.n_masks is None)
    targets = most_confident(found, limit("drise_objects"))
    params = replace(params, n_masks=params.n_masks or default_mask_count(flops))
    method = OBJECT_METHODS.get(params.method)
    maps = method.attribute_objects(
        detector, detector.image_tensor(image), targets, params, should_stop
    )
    result = ObjectExplanation(
        objects=object_entries(targets, image.size, detector.labels),
        n_detected=len(found),
        n_masks=int(params.n_masks),
        maps=maps.astype(np.float32, copy=False),
    )
    if params.visualizations:
        result.visualization = picture(image, result, targets)
    return result


def most_confident(found: Detections, n: int) -> Detections:
    """The `n` highest-scoring of `found`, highest first; a warning names the others."""
    order = torch.argsort(found.scores, descending=True, stable=True)[:n]
    if len(order) < len(found):
        logger.warning(
            "%d objects found; explaining the %d highest-scoring (AUTOML_MAX_DRISE_OBJECTS)",
            len(found),
            len(order),
        )
    return found.take(order)


def picture(image: Image.Image, result: ObjectExplanation, targets: Detections) -> bytes:
    """The PNG of `result`: a panel per object, captioned with its label and score."""
    captions = [f"{o['label']} {o['score']:.2f}" for o in result.objects]
    grid = render_objects(np.asarray(image), result.maps, targets.boxes.numpy(), captions)
    return png_bytes(grid)


def default_mask_count(flops: float) -> int:
    from automl.engine.explain._drise import default_n_masks

    return default_n_masks(flops)


def fit_side(image: Image.Image, side: int) -> Image.Image:
    """`image` scaled down (aspect kept) so that its longest side is at most `side`."""
    if max(image.size) <= side:
        return image
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    logger.info("explaining %s at %dx%d (AUTOML_MAX_DRISE_IMAGE_SIDE)", image.size, *size)
    return image.resize(size, Image.Resampling.BILINEAR)


def run_counted(call: Callable[[], Detections], *, count: bool) -> tuple[Detections, float]:
    """`call()` and the FLOPs its torch operations did in this thread (0 when not counted).

    Not torch's FlopCounterMode: it also tracks modules through global forward hooks, which
    would run in the endpoint's other threads (the same model predicting beside us) and
    break there; a dispatch mode alone is thread-local."""
    if not count:
        return call(), 0.0
    with FlopCount() as counter:
        result = call()
    return result, float(counter.total)


class FlopCount(TorchDispatchMode):
    """Counts the FLOPs of the operations torch's flop_counter knows (convolutions, matrix
    products), run in this thread while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        counter = flop_registry.get(func._overloadpacket)
        if counter is None:
            # Under inference mode composite operations (conv2d) arrive whole: count the
            # ones they decompose into (convolution), as torch's own counter does.
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        if counter is not None:
            self.total += counter(*args, **kwargs, out_val=out)
        return out


def object_entries(found: Detections, size: tuple[int, int], labels: list[str]) -> list[dict]:
    """Response box objects (normalised to the image) of `found`."""
    width, height = size
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    rows = zip(
        (found.boxes / scale).tolist(), found.labels.tolist(), found.scores.tolist(), strict=True
    )
    return [
        {
            "box": dict(zip(BOX_KEYS, box, strict=True)),
            "label": labels[label] if 0 <= label < len(labels) else str(label),
            "score": score,
        }
        for box, label, score in rows
    ]


def object_response_fields(result: ObjectExplanation, params: ExplainParameters) -> dict:
    """The endpoint's XAI keys of one image: `visualizations` (base64 PNG), `attributions`
    ([objects, h, w], the maps scaled to fit RESPONSE_MAP_SIDE; None unless asked) and
    `explained_boxes` (the object of each map)."""
    attributions = None
    if params.attributions:
        attributions = np.round(response_maps(result.maps), RESPONSE_DECIMALS).tolist()
    visual = result.visualization
    return {
        "visualizations": png_base64(visual) if params.visualizations and visual else None,
        "attributions": attributions,
        "explained_boxes": result.objects,
    }


def response_maps(maps: np.ndarray) -> np.ndarray:
    """`maps` [objects, H, W] scaled down (area average) to fit RESPONSE_MAP_SIDE."""
    height, width = maps.shape[-2:]
    scale = RESPONSE_MAP_SIDE / max(height, width, 1)
    if scale >= 1 or not len(maps):
        return maps
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(torch.from_numpy(maps)[:, None], size=size, mode="area")[:, 0].numpy()
