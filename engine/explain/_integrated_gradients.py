"""Integrated gradients (Sundararajan et al., 2017) through captum.

The path runs from a black image to the input; `n_steps` points on it are integrated with
`approximation_method` (captum's Riemann rules or Gauss-Legendre). Black is the usual
baseline for photographs: "no signal" in pixel space (zero of the normalised input would be
the dataset's mean colour, which itself carries class evidence).
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

# Path points per forward/backward pass: bounds memory for large models, while small ones
# still run the 50 default steps in four passes.
INTERNAL_BATCH_SIZE = 16


def integrated_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    baseline: torch.Tensor,
    target: int,
    params: ExplainParameters,
) -> torch.Tensor:
    """captum IntegratedGradients from `baseline` to `inputs`: a tensor shaped like inputs."""
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model).attribute(
        inputs,
        baselines=baseline,
        target=target,
        n_steps=params.n_steps,
        method=params.approximation_method,
        internal_batch_size=INTERNAL_BATCH_SIZE,
    )


@register_method
class IntegratedGradientsMethod(AttributionMethod):
    """Integrated gradients from a black baseline (Azure `integrated_gradients`)."""

    name = "integrated_gradients"

    def attribute(
        self, model: nn.Module, sample: ExplainSample, target: int, params: ExplainParameters
    ) -> np.ndarray:
        black = sample.constant_image(0.0)
        return to_numpy_attributions(
            integrated_gradients(model, sample.inputs, black, target, params)
        )
