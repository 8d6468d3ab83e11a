"""Explanations of classification predictions (reference §7.3).

Methods (registered in `METHODS` under Azure's names): `xrai` (saliency's XRAI on captum
integrated gradients), `integrated_gradients`, `guided_gradcam`, `guided_backprop` (captum).
All work on the validation resize + centre crop; attributions are float32 [3, crop, crop].

Public names:
- `explain_images(predictor, images, *, method, n_steps, ...) -> list[dict]`: the
  endpoint's keys per image (`visualizations`, `attributions`, `explained_labels`).
- `explain_image(predictor, image, params) -> ImageExplanation`: arrays and PNG bytes.
- `explain_files(predictor, inputs, out_dir, params)`: PNG + .npy per image and class;
  `explain_model_files(model_ref, source, out_dir, params)` is the CLI's one call.
- `ExplainParameters` (`.checked()`, `.as_kwargs()`): Azure's xai_parameters, checked.
- `ExplainError`, `check_explainable(predictor)`, `find_cam_layer(model)`.
- `render_grid(crop, attributions)`: Azure's 2x2 visualisation.
"""

from __future__ import annotations

# Each module registers its method in METHODS on import.
from automl.engine.explain import (  # noqa: F401
    _guided_backprop,
    _guided_gradcam,
    _integrated_gradients,
    _xrai,
)
from automl.engine.explain._base import (
    APPROXIMATION_METHODS,
    METHODS,
    AttributionMethod,
    ExplainError,
    ExplainParameters,
    ExplainSample,
)
from automl.engine.explain._explain import (
    ImageExplanation,
    check_explainable,
    explain_image,
    explain_images,
)
from automl.engine.explain._files import INDEX_FILE, explain_files, explain_model_files
from automl.engine.explain._layers import CamLayer, find_cam_layer
from automl.engine.explain._visualize import render_grid

__all__ = [
    "APPROXIMATION_METHODS",
    "METHODS",
    "AttributionMethod",
    "CamLayer",
    "ExplainError",
    "ExplainParameters",
    "ExplainSample",
    "INDEX_FILE",
    "ImageExplanation",
    "check_explainable",
    "explain_files",
    "explain_model_files",
    "explain_image",
    "explain_images",
    "find_cam_layer",
    "render_grid",
]
