"""Transformers image classifiers by hub id (both classification tasks).

`AutoModelForImageClassification` with a new head for the job's labels
(`ignore_mismatched_sizes`), wrapped so that `forward(pixels)` returns logits: the
classification loop, predictor, ONNX export and explanations then treat it like any of our
classifiers. Its image processor's mean and std feed our transforms (the spec's, see
engine/models/_hf.py); a crop size other than the config's `image_size` is served by the
model's own `interpolate_pos_encoding` where it has one. AutoMode's rule for these models
is `automode_may_use` (engine/sweep/automode.py asks it).
"""

from __future__ import annotations

import inspect
import logging

import torch
from torch import nn

from automl import schemas
from automl.engine.errors import AutomlError
from automl.engine.models._base import ModelSpec, register_model
from automl.engine.models._classification import CLASSIFICATION_TASKS, classification_settings
from automl.engine.models._hf import (
    HUB_FAMILY,
    HUB_RUNTIME,
    HubAdapter,
    build_classifier_of_spec,
    config_from_dict,
    config_record,
    hub_spec,
    load_hub_config,
    load_hub_weights,
    register_hub_adapter,
    transformers_module,
)
from automl.engine.utils import hf_hub

logger = logging.getLogger("automl.models")

VIT_MEAN_STD = (0.5, 0.5, 0.5)
IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
HALF = {"mean": VIT_MEAN_STD, "std": VIT_MEAN_STD}
# Azure's curated ids (schemas/models.json) with their image processors' statistics and
# input size, so that a job validates and its package is described without the hub
CURATED = {
    "microsoft/beit-base-patch16-224-pt22k-ft22k": {**HALF, "size": 224},
    "google/vit-base-patch16-224": {**HALF, "size": 224},
    "facebook/deit-base-patch16-224": {**IMAGENET, "size": 224},
    "microsoft/swinv2-base-patch4-window12-192-22k": {**IMAGENET, "size": 192},
}
# test_tiny_vit: a 15k-parameter ViT (32 px, patch 8, one layer): real Transformers code
# paths in a second, nothing downloaded
TINY_VIT_CONFIG = {
    "model_type": "vit",
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "patch_size": 8,
}


class HubClassifier(nn.Module):
    """A Transformers image classifier: pixels (N, 3, H, W) in, logits (N, classes) out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.image_size = getattr(model.config, "image_size", None)
        parameters = inspect.signature(model.forward).parameters
        self.can_interpolate = "interpolate_pos_encoding" in parameters

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        kwargs = {}
        if self.can_interpolate and pixels.shape[-1] != self.image_size:
            kwargs["interpolate_pos_encoding"] = True  # position embeddings resampled
        return self.model(pixel_values=pixels, **kwargs).logits

    def package_record(self) -> dict:
        """What model.pt records beside the state dict: the config.json content."""
        return {"hf_config": config_record(self.model)}


def auto_classifier_class(model_name: str):
    return transformers_module(model_name).AutoModelForImageClassification


def check_classifier_config(model_name: str, config) -> None:
    """The config must be an image-classification architecture of transformers."""
    auto_class = auto_classifier_class(model_name)
    if type(config) not in auto_class._model_mapping:
        raise AutomlError(
            f"model {model_name!r} (model_type {config.model_type!r}) is not an image "
            "classification architecture of transformers",
            hint="pick a hub id whose model page lists the image-classification task, "
            f"e.g. {schemas.curated_hub_ids('image_classification')[0]}",
        )


def model_config(spec: ModelSpec, n_labels: int, pretrained: bool):
    """The config of `spec` with an `n_labels` head: the tiny model's own or the hub's."""
    labels = {"num_labels": n_labels}
    if "config" in spec.extra:
        return config_from_dict({**spec.extra["config"], **labels})
    return load_hub_config(spec.name, pretrained, **labels)


def build_hub_classifier(
    spec: ModelSpec, n_labels: int, pretrained: bool, settings: dict
) -> nn.Module:
    """The classifier of a hub id (pretrained: from the Hugging Face cache) or test model."""
    config = model_config(spec, n_labels, pretrained and spec.has_pretrained)
    check_classifier_config(spec.name, config)
    auto_class = auto_classifier_class(spec.name)
    if pretrained and spec.has_pretrained:
        model = load_hub_weights(auto_class, spec.name, config)
    else:
        if pretrained:
            logger.info("%s has no pretrained weights; it trains from scratch", spec.name)
        model = auto_class.from_config(config)
    return HubClassifier(model)


def build_classifier_from_config(config, task: str) -> nn.Module:
    """A package's classifier, untrained, from its recorded config (no hub access)."""
    check_classifier_config(str(config.model_type), config)
    return HubClassifier(auto_classifier_class(str(config.model_type)).from_config(config))


def automode_may_use(model_name: str, cuda: bool) -> bool:
    """AutoMode's rule: a Transformers classifier joins the portfolio when the transformers
    extra is installed and its weights are in the Hugging Face cache or a GPU is present
    (fine-tuning a ViT-B on CPUs takes hours; a GPU downloads and trains it in minutes)."""
    if not schemas.is_hub_id(model_name) or not hf_hub.transformers_installed():
        return False
    return cuda or not hf_hub.missing_hub_files(model_name, pretrained=True)


def register_hub_classifiers() -> None:
    register_hub_adapter(
        HubAdapter(
            kind="classification",
            build=build_hub_classifier,
            package_settings=classification_settings,
            build_from_config=build_classifier_from_config,
        )
    )
    for hub_id, stats in CURATED.items():
        register_model(hub_spec(hub_id, stats))
    register_model(
        ModelSpec(
            name="test_tiny_vit",
            tasks=CLASSIFICATION_TASKS,
            family=HUB_FAMILY,
            runtime=HUB_RUNTIME,
            source="builtin",
            builder=build_classifier_of_spec,
            layer_groups=(),
            input_size=32,
            mean=VIT_MEAN_STD,
            std=VIT_MEAN_STD,
            grad_clip=("norm", 1.0),
            extra={"config": TINY_VIT_CONFIG},
        )
    )


register_hub_classifiers()
