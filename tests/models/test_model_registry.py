"""The model registry: names equal the schema's, every model builds and trains a step."""

from __future__ import annotations

import pytest
import torch

from automl.engine.errors import RegistryError
from automl.engine.models import (
    MODELS,
    build_model,
    freeze_layer_groups,
    get_model_spec,
    model_names,
)

CLASSIFICATION = ("image_classification", "image_classification_multilabel")
# bigger sizes of an architecture run forward/backward on the meta device (shapes, no
# arithmetic); the smallest of each architecture runs it for real
BIG = {"vitl16r224", "resnet152", "resnest101", "resnet101", "vitb16r224", "resnet50", "resnet34"}


@pytest.mark.parametrize("task", CLASSIFICATION)
def test_registry_names_equal_schema_enum(task):
    from automl.schemas import model_names as schema_model_names

    assert set(model_names(task)) == set(schema_model_names(task))


def classification_models(big: bool) -> list[str]:
    """The classifiers of one size class, but the curated hub ids (their config.json comes
    from the hub; test_tiny_vit runs the same Transformers code:
    tests/models/test_hf_classification.py)."""
    from automl.schemas import is_hub_id

    return [
        name
        for name in model_names("image_classification")
        if (name in BIG) == big and not is_hub_id(name)
    ]


def assert_forward_backward(name: str, device: str) -> None:
    spec = get_model_spec(name)
    crop = 32
    with torch.device(device):
        model = build_model(name, 3, pretrained=False, crop_size=crop)
    logits = model(torch.randn(2, 3, crop, crop, device=device))
    assert logits.shape == (2, 3)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    names = [n for n, _ in model.named_parameters()]
    for group in spec.layer_groups:  # every layer group names real parameters
        assert any(n.startswith(group) for n in names), group


@pytest.mark.parametrize("name", classification_models(big=False))
def test_model_builds_and_runs_forward_backward(name):
    torch.manual_seed(0)
    assert_forward_backward(name, "cpu")


@pytest.mark.parametrize("name", classification_models(big=True))
def test_bigger_model_builds_and_runs_forward_backward_on_the_meta_device(name):
    """Every layer and the head are built and connected (shapes, gradients, layer groups); the
    same architecture's smallest size runs test_model_builds_and_runs_forward_backward."""
    assert_forward_backward(name, "meta")


def test_metadata_matches_timm_pretrained_configs():
    from timm.models import get_pretrained_cfg

    for name in MODELS:
        spec = get_model_spec(name)
        if spec.source != "timm":
            continue
        arch, tag = spec.weights_id.split(".")
        cfg = get_pretrained_cfg(spec.weights_id)
        assert cfg is not None and cfg.tag == tag, name
        assert tuple(cfg.mean) == spec.mean and tuple(cfg.std) == spec.std, name


def test_layers_to_freeze_freezes_leading_groups_only():
    model = build_model("resnet18", 2, pretrained=False)
    frozen = freeze_layer_groups(model, get_model_spec("resnet18"), 2)
    assert frozen and all(n.startswith(("conv1.", "bn1.", "layer1.")) for n in frozen)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "layer2.0.conv1.weight" in trainable and "fc.weight" in trainable
    assert "layer1.0.conv1.weight" not in trainable


def test_unknown_model_suggests_close_names():
    with pytest.raises(RegistryError, match="resnet18"):
        get_model_spec("resnet19")
