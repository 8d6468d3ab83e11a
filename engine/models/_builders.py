"""Builders shared by the model families: torchvision and timm classifiers with a new head."""

from __future__ import annotations

import logging

import torch
from torch import nn

from automl.engine.models._base import ModelSpec
from automl.engine.models._weights import weights_file

logger = logging.getLogger("automl.models")


def build_torchvision_classifier(
    spec: ModelSpec, n_classes: int, pretrained: bool, crop_size: int | None
) -> nn.Module:
    """A torchvision architecture, ImageNet weights loaded from TORCH_HOME, head replaced."""
    import torchvision.models as tv_models

    model = getattr(tv_models, spec.extra["arch"])(weights=None)
    if pretrained:
        model.load_state_dict(torch.load(weights_file(spec), map_location="cpu", weights_only=True))
    replace_head(model, n_classes)
    return model


def replace_head(model: nn.Module, n_classes: int) -> None:
    """Swap the last Linear layer (resnet `fc`, mobilenet `classifier[-1]`) for n_classes."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        model.fc = nn.Linear(model.fc.in_features, n_classes)
        return
    classifier = model.classifier
    classifier[-1] = nn.Linear(classifier[-1].in_features, n_classes)


def build_timm_classifier(
    spec: ModelSpec, n_classes: int, pretrained: bool, crop_size: int | None
) -> nn.Module:
    """A timm architecture; weights come from the Hugging Face cache and timm's own loader
    adapts them (head dropped, ViT position embeddings resampled to `crop_size`)."""
    import timm

    kwargs: dict = {"num_classes": n_classes}
    if spec.fixed_crop_size and crop_size:
        kwargs["img_size"] = crop_size
    if pretrained:
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights_file(spec))}
    return timm.create_model(spec.weights_id or spec.extra["arch"], pretrained=pretrained, **kwargs)


class TinyCnnClassifier(nn.Module):
    """Three small conv stages and a linear head: real training code paths in seconds at
    32-64 px. Layer groups `stem`, `stage1`, `stage2` make `layers_to_freeze` testable."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.stem = conv_block(3, 16, stride=1)
        self.stage1 = conv_block(16, 32, stride=2)
        self.stage2 = conv_block(32, 64, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage2(self.stage1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def build_tiny_cnn(
    spec: ModelSpec, n_classes: int, pretrained: bool, crop_size: int | None
) -> nn.Module:
    if pretrained:
        logger.info("%s has no pretrained weights; it trains from scratch", spec.name)
    return TinyCnnClassifier(n_classes)
