"""Model registry, families, builders, pretrained weights and the model package.

Public names:
- `MODELS`, `ModelSpec`, `get_model_spec(name)`, `model_names(task)`, `register_model`:
  the model registry; every spec names its family and its runtime.
- `FAMILIES`, `ModelFamily`, `register_family`, `get_family(name)`, `family_of(model)`:
  the family descriptors (how a family builds, packages and rebuilds its models).
- `build_model(name, n_classes, *, pretrained, crop_size)`: a classifier with a new head.
- `build_detection_model(name, n_labels, *, pretrained, settings)`: any registered model
  built by its family from package settings (detectors: `n_labels` plus background).
- `freeze_layer_groups(model, spec, n)`: `layers_to_freeze`.
- `write_model_package(...)`, `load_model_package(dir)`: the `outputs/` folder.
- `fetch_weights(spec)`, `cached_weights_file(spec)`, `cache_location(spec)`: weights cache.
"""

from __future__ import annotations

from torch import nn

from automl.engine.models import (
    _classification,  # noqa: F401  (registers the families and models)
    _detection,  # noqa: F401  (registers the families and models)
    _hf_classification,  # noqa: F401  (the transformers family's classifiers; hub ids)
    _hf_detection,  # noqa: F401  (registers the families; imports transformers only to build)
    _yolo,  # noqa: F401  (registers the family and models; imports ultralytics only to build)
)
from automl.engine.models._base import (
    MODELS,
    ModelSpec,
    family_of,
    get_model_spec,
    model_names,
    register_model,
)
from automl.engine.models._family import FAMILIES, ModelFamily, get_family, register_family
from automl.engine.models._weights import (
    WeightsUnavailableError,
    cache_location,
    cached_weights_file,
    fetch_weights,
)
from automl.engine.models.freezing import freeze_layer_groups
from automl.engine.models.package import load_model_package, write_model_package


def build_model(
    name: str, n_classes: int, *, pretrained: bool = True, crop_size: int | None = None
) -> nn.Module:
    """Build registered model `name` with an `n_classes` head.

    `pretrained` loads ImageNet weights from the library cache (downloading when online;
    `WeightsUnavailableError` otherwise). `crop_size` sizes ViT position embeddings.
    """
    spec = get_model_spec(name)
    return spec.builder(spec, n_classes, pretrained, crop_size)


def build_detection_model(
    name: str, n_labels: int, *, pretrained: bool = True, settings: dict
) -> nn.Module:
    """Build registered model `name` for `n_labels` classes through its family.

    `settings` are the package's inference settings in runtime names: a torchvision
    detector's internal resize and post-processing use min_size, max_size,
    box_score_thresh, nms_iou_thresh and box_detections_per_img (and it adds a background
    class); a YOLO model reads `model_size`. `pretrained` loads COCO or ImageNet weights
    from the libraries' caches.
    """
    spec = get_model_spec(name)
    return family_of(name).build(spec, n_labels, pretrained, settings)


__all__ = [
    "FAMILIES",
    "MODELS",
    "ModelFamily",
    "ModelSpec",
    "WeightsUnavailableError",
    "build_detection_model",
    "build_model",
    "cache_location",
    "cached_weights_file",
    "family_of",
    "fetch_weights",
    "freeze_layer_groups",
    "get_family",
    "get_model_spec",
    "load_model_package",
    "model_names",
    "register_family",
    "register_model",
    "write_model_package",
]
