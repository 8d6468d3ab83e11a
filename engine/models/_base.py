"""What every model builder provides: the registry entry and its metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from automl.engine.models._family import ModelFamily, get_family
from automl.engine.tasks.classification import IMAGENET_MEAN, IMAGENET_STD
from automl.engine.utils.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """One architecture: how to build it and what training and inference must know about it.

    `family` names its `ModelFamily` (the families of schemas/models.json) and `runtime` who
    trains and predicts it ("torch": our loop; "ultralytics": YOLO's). `source` is where its
    pretrained weights come from ("torchvision", "timm", "ultralytics" or "builtin": none).
    `layer_groups` are the ordered parameter-name prefixes that `layers_to_freeze: N` freezes
    (the first N groups), adapted from Azure's table (reference §3.10) to the parameter names
    of the library module we build. `grad_clip` is Azure's runtime rule: clip by value 5.0,
    ViTs by norm 1.0.
    """

    name: str
    tasks: tuple[str, ...]
    family: str
    runtime: str
    source: str
    builder: Callable[..., nn.Module]
    layer_groups: tuple[tuple[str, ...], ...]
    input_size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    weights_id: str | None = None  # torchvision weights enum member, timm "arch.tag", ...
    grad_clip: tuple[str, float] = ("value", 5.0)
    fixed_crop_size: bool = False  # ViT: validation_crop_size must equal training_crop_size
    extra: dict = field(default_factory=dict)

    @property
    def has_pretrained(self) -> bool:
        return self.weights_id is not None


# a name no entry holds -> the spec of a model built on demand (a Transformers hub id), or None
ModelResolver = Callable[[str], "ModelSpec | None"]


class ModelRegistry(Registry[ModelSpec]):
    """The model registry: registered names, and names its resolvers recognise (hub ids
    `org/name`), whose specs are made on each lookup and never listed."""

    def __init__(self) -> None:
        super().__init__("model")
        self.resolvers: list[ModelResolver] = []

    def resolve(self, name: object) -> ModelSpec | None:
        if not isinstance(name, str):
            return None
        return next((s for r in self.resolvers if (s := r(name)) is not None), None)

    def get(self, name: str) -> ModelSpec:
        if name not in self._entries and (spec := self.resolve(name)) is not None:
            return spec
        return super().get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or self.resolve(name) is not None


MODELS = ModelRegistry()


def register_model_resolver(resolver: ModelResolver) -> ModelResolver:
    """Let `resolver` answer lookups of names no registered model has (first answer wins)."""
    MODELS.resolvers.append(resolver)
    return resolver


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add `spec` to the model registry (a duplicate name raises at import time); its family
    must be registered, with the same runtime."""
    family = get_family(spec.family)
    if family.runtime != spec.runtime:
        raise ValueError(
            f"model {spec.name!r} has runtime {spec.runtime!r}, but its family "
            f"{family.name!r} runs on {family.runtime!r}"
        )
    MODELS.add(spec.name, spec)
    return spec


def get_model_spec(name: str) -> ModelSpec:
    """The spec of `name`; an unknown name raises RegistryError with the closest matches."""
    return MODELS.get(name)


def family_of(name: str) -> ModelFamily:
    """The family descriptor of registered model `name`."""
    return get_family(get_model_spec(name).family)


def model_names(task: str) -> list[str]:
    """Registered model names that support `task`, sorted."""
    return sorted(name for name in MODELS if task in MODELS.get(name).tasks)
