"""Guided Grad-CAM (Selvaraju et al., 2017): Grad-CAM upsampled, times guided backprop.

Convolutional models go through captum's GuidedGradCam on the layer `find_cam_layer` picks
(the last convolutional block). Transformers get the same formula with captum's layer
activations and gradients, their patch tokens laid on the patch grid first (captum's
Grad-CAM averages over every dimension after the second, which for [B, tokens, dim] output
would weight tokens, not channels).
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
    to_numpy_attributions,
)
from automl.engine.explain._layers import CamLayer, find_cam_layer, tokens_to_grid

# Bilinear upsampling: nearest would paint the coarse CAM grid as visible blocks.
INTERPOLATE_MODE = "bilinear"


@register_method
class GuidedGradCamMethod(AttributionMethod):
    """Guided Grad-CAM (Azure `guided_gradcam`) on the last convolutional block."""

    name = "guided_gradcam"

    def attribute(
        self, model: nn.Module, sample: ExplainSample, target: int, params: ExplainParameters
    ) -> np.ndarray:
        layer = find_cam_layer(model)
        if layer.is_token_layer:
            attributions = token_guided_gradcam(model, layer, sample.inputs, target)
        else:
            from captum.attr import GuidedGradCam

            attributions = GuidedGradCam(model, layer.module).attribute(
                sample.inputs, target=target, interpolate_mode=INTERPOLATE_MODE
            )
        return to_numpy_attributions(attributions)


def token_guided_gradcam(
    model: nn.Module, layer: CamLayer, inputs: torch.Tensor, target: int
) -> torch.Tensor:
    """Guided Grad-CAM of a transformer: channel weights = mean patch gradient."""
    from captum.attr import (
        GuidedBackprop,
        LayerActivation,
        LayerAttribution,
        LayerGradientXActivation,
    )

    activations = LayerActivation(model, layer.module).attribute(inputs)
    # multiply_by_inputs=False makes it return the plain layer gradients.
    gradients = LayerGradientXActivation(model, layer.module, multiply_by_inputs=False).attribute(
        inputs, target=target
    )
    act_grid = tokens_to_grid(activations, layer.n_prefix_tokens)
    grad_grid = tokens_to_grid(gradients, layer.n_prefix_tokens)
    weights = grad_grid.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act_grid).sum(dim=1, keepdim=True))
    cam = LayerAttribution.interpolate(cam, tuple(inputs.shape[2:]), INTERPOLATE_MODE)
    guided = GuidedBackprop(model).attribute(inputs, target=target)
    return guided * cam
