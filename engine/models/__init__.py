"""Model registry, builders, pretrained weights and the model package.

Public names:
- `MODELS`, `ModelSpec`, `get_model_spec(name)`, `model_names(task)`: the registry.
- `build_model(name, n_classes, *, pretrained, crop_size)`: a model with a new head.
- `freeze_layer_groups(model, spec, n)`: `layers_to_freeze`.
- `write_model_package(...)`, `load_model_package(dir)`: the `outputs/` folder.
- `fetch_weights(spec)`, `cached_weights_file(spec)`, `cache_location(spec)`: weights cache.
"""

from __future__ import annotations

from torch import nn

from automl.engine.models import _classification  # noqa: F401  (registers the models)
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


__all__ = [
    "MODELS",
    "ModelSpec",
    "WeightsUnavailableError",
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
