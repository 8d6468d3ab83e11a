"""XRAI (Kapishnikov et al., 2019) through Google's `saliency` package.

XRAI over-segments the image (Felzenszwalb at six scales, in `saliency.core`), then ranks
regions by their density of integrated-gradients attribution and grows the explanation
region by region. The base attribution comes from captum (the same integrated gradients as
the `integrated_gradients` method, with `n_steps` and `approximation_method`), averaged over
a black and a white baseline as XRAI prescribes, so one gradient code path serves all
methods and `saliency` only segments and ranks (numpy only, no TensorFlow).

`xrai_fast` picks saliency's "fast" algorithm (regions ranked once, then added in order);
otherwise "full" re-ranks the remaining regions after each addition (slower, sharper).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from automl.engine.explain._base import (
    AttributionMethod,
    ExplainParameters,
    ExplainSample,
    register_method,
)
from automl.engine.explain._integrated_gradients import integrated_gradients


@register_method
class XraiMethod(AttributionMethod):
    """XRAI (Azure `xrai`, the default): region attributions, one value per region."""

    name = "xrai"
    modules = ("captum.attr", "saliency.core")  # saliency's XRAI segments with scikit-image

    def attribute(
        self, model: nn.Module, sample: ExplainSample, target: int, params: ExplainParameters
    ) -> np.ndarray:
        base = xrai_base_attribution(model, sample, target, params)
        if "xrai_segments" not in sample.cache:  # one segmentation per image, not per class
            sample.cache["xrai_segments"] = image_segments(sample.image)
        segments = sample.cache["xrai_segments"]
        region_map = xrai_regions(sample.image, base, segments, fast=params.xrai_fast)
        # One value per pixel; repeated over the channels to keep the [3, H, W] contract.
        return np.repeat(region_map[None].astype(np.float32), 3, axis=0)


def xrai_base_attribution(
    model: nn.Module, sample: ExplainSample, target: int, params: ExplainParameters
) -> np.ndarray:
    """Integrated gradients averaged over black and white baselines, as [H, W, 3]."""
    total = torch.zeros_like(sample.inputs)
    for value in (0.0, 1.0):
        baseline = sample.constant_image(value)
        total += integrated_gradients(model, sample.inputs, baseline, target, params).detach()
    return (total[0] / 2).permute(1, 2, 0).float().cpu().numpy()


def image_segments(image: np.ndarray) -> list[np.ndarray] | None:
    """XRAI's candidate regions of an uint8 [H, W, 3] image (boolean masks), or None to let
    XRAI segment by itself (when saliency's segmentation helper is not where it was)."""
    if image.min() == image.max():
        # saliency rescales the image to its min..max range before segmenting: a uniform
        # image would divide by zero, and has only one region anyway.
        return [np.ones(image.shape[:2], dtype=bool)]
    from saliency.core import xrai

    # Private in saliency 0.2: the same call XRAI makes when given no segments.
    segment = getattr(xrai, "_get_segments_felzenszwalb", None)
    return segment(image.astype(np.float32)) if segment else None


def xrai_regions(
    image: np.ndarray, base_attribution: np.ndarray, segments: list | None, *, fast: bool
) -> np.ndarray:
    """saliency's XRAI: float [H, W] region attributions of an uint8 [H, W, 3] image."""
    from saliency.core import XRAI, XRAIParameters

    parameters = XRAIParameters(algorithm="fast" if fast else "full")
    output = XRAI().GetMaskWithDetails(
        image.astype(np.float32),
        call_model_function=None,  # unused: the base attribution is given
        segments=segments,
        base_attribution=base_attribution,
        extra_parameters=parameters,
    )
    return np.asarray(output.attribution_mask, dtype=np.float32)
