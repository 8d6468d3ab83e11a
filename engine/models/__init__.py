"""Model registry, builders, pretrained weights and the model package.

Public names:
- `MODELS`, `ModelSpec`, `get_model_spec(name)`, `model_names(task)`: the registry.
- `build_model(name, n_classes, *, pretrained, crop_size)`: a classifier with a new head.
- `build_detection_model(name, n_labels, *, pretrained, settings)`: a torchvision detector
  (object detection, instance segmentation) for `n_labels` classes plus background.
- `freeze_layer_groups(model, spec, n)`: `layers_to_freeze`.
- `write_model_package(...)`, `load_model_package(dir)`: the `outputs/` folder.
- `fetch_weights(spec)`, `cached_weights_file(spec)`, `cache_location(spec)`: weights cache.
"""

from __future__ import annotations

from torch import nn

from automl.engine.models import (
    _classification,  # noqa: F401  (registers the models)
    _detection,  # noqa: F401  (registers the models)
    _yolo,  # noqa: F401  (registers the models; imports ultralytics only when building)
)
from automl.engine.models._base import MODELS, ModelSpec, get_model_spec, model_names
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
    """Build registered detector `name` for `n_labels` classes (+ torchvision's background).

    `settings` are the package's inference settings in runtime names (min_size, max_size,
    box_score_thresh, nms_iou_thresh, box_detections_per_img): the model's internal
    resize and post-processing use them. `pretrained` loads COCO (ResNet-50 models) or
    ImageNet backbone weights from TORCH_HOME. YOLO models (`model_size` in settings) have
    no background class and load COCO weights from Ultralytics' weights dir.
    """
    spec = get_model_spec(name)
    if _yolo.is_yolo_model(name):
        return spec.builder(spec, n_labels, pretrained, {"model_size": settings.get("model_size")})
    options = _detection.model_options(spec, settings)
    return spec.builder(spec, n_labels + 1, pretrained, options)


__all__ = [
    "MODELS",
    "ModelSpec",
    "WeightsUnavailableError",
    "build_detection_model",
    "build_model",
    "cache_location",
    "cached_weights_file",
    "fetch_weights",
    "freeze_layer_groups",
    "get_model_spec",
    "load_model_package",
    "model_names",
    "write_model_package",
]
