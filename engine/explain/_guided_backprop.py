"""Guided backpropagation (Springenberg et al., 2015) through captum.

Gradients pass back through ReLU activations only where both the forward input and the
incoming gradient are positive. Models without ReLU modules (ViTs use GELU) get plain input
gradients: captum only modifies ReLUs.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from automl.engine.explain._base import (
    AttributionMethod,
    ExplainParameters,
    ExplainSample,
    register_method,
    to_numpy_attributions,
)


@register_method
class GuidedBackpropMethod(AttributionMethod):
    """Guided backpropagation (Azure `guided_backprop`): the fastest, noisiest method."""

    name = "guided_backprop"

    def attribute(
        self, model: nn.Module, sample: ExplainSample, target: int, params: ExplainParameters
    ) -> np.ndarray:
        from captum.attr import GuidedBackprop

        return to_numpy_attributions(GuidedBackprop(model).attribute(sample.inputs, target=target))
