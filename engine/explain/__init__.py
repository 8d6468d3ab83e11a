"""Explanations of classification predictions (docs/azure-compatibility.md §7.3), and of object
detection
and instance segmentation predictions (our extension).

Classification methods (registered in `METHODS` under Azure's names): `xrai` (saliency's
XRAI on captum integrated gradients), `integrated_gradients`, `guided_gradcam`,
`guided_backprop` (captum). All work on the validation resize + centre crop; attributions
are float32 [3, crop, crop]. Object methods (registered in `OBJECT_METHODS`): `drise`
(D-RISE, black-box: any detector the predictor runs); one saliency map per detected
object, float32 [objects, H, W].

Public names:
- `explain_images(predictor, images, *, method, n_steps, ...) -> list[dict]`: the
  endpoint's keys per image (`visualizations`, `attributions`, `explained_labels`).
- `explain_image(predictor, image, params) -> ImageExplanation`: arrays and PNG bytes;
  `explain_objects(predictor, image, params) -> ObjectExplanation` for detectors;
  `explain_one` picks by task.
- `explain_files(predictor, inputs, out_dir, params)`: PNG + .npy per image and class;
  `explain_model_files(model_ref, source, out_dir, params)` is the CLI's one call.
- `ExplainParameters` (`.checked()`, `.as_kwargs()`): Azure's xai_parameters, checked.
- `ExplainError`, `ExplainCancelled`, `check_explainable(predictor)`, `find_cam_layer(model)`.
- `Detector(predictor)`, `Detections`: a predictor as D-RISE's black box.
- `render_grid(crop, attributions)`: Azure's 2x2 visualisation; `render_objects`: D-RISE's.
"""

from __future__ import annotations

# Each module registers its method in METHODS on import.
from automl.engine.explain import (  # noqa: F401
    _drise,
    _guided_backprop,
    _guided_gradcam,
    _integrated_gradients,
    _xrai,
)
from automl.engine.explain._base import (
    APPROXIMATION_METHODS,
    METHODS,
    OBJECT_METHODS,
    AttributionMethod,
    ExplainCancelled,
    ExplainError,
    ExplainParameters,
    ExplainSample,
    ObjectAttributionMethod,
)
from automl.engine.explain._detector import Detections, Detector
from automl.engine.explain._explain import (
    ImageExplanation,
    check_explainable,
    explain_image,
    explain_images,
    explain_one,
)
from automl.engine.explain._files import INDEX_FILE, explain_files, explain_model_files
from automl.engine.explain._layers import CamLayer, find_cam_layer
from automl.engine.explain._objects import ObjectExplanation, explain_objects
from automl.engine.explain._visualize import render_grid, render_objects

__all__ = [
    "APPROXIMATION_METHODS",
    "INDEX_FILE",
    "METHODS",
    "OBJECT_METHODS",
    "AttributionMethod",
    "CamLayer",
    "Detections",
    "Detector",
    "ExplainCancelled",
    "ExplainError",
    "ExplainParameters",
    "ExplainSample",
    "ImageExplanation",
    "ObjectAttributionMethod",
    "ObjectExplanation",
    "check_explainable",
    "explain_files",
    "explain_image",
    "explain_images",
    "explain_model_files",
    "explain_objects",
    "explain_one",
    "find_cam_layer",
    "render_grid",
    "render_objects",
]
