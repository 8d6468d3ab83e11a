"""Which layer guided Grad-CAM reads, per architecture, and that each one explains."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from automl.engine.explain import ExplainError, explain_images, find_cam_layer
from automl.engine.models import build_model

CROP = 32


@pytest.mark.parametrize(
    ("model_name", "layer_name"),
    [
        ("test_tiny_cnn", "stage2"),
        ("resnet18", "layer4"),
        ("mobilenetv2", "features.18"),
        ("vits16r224", "blocks.11.norm1"),
    ],
)
def test_guided_gradcam_layer_and_attributions(model_name, layer_name):
    torch.manual_seed(0)
    model = build_model(model_name, 3, pretrained=False, crop_size=CROP).eval()
    assert find_cam_layer(model).name == layer_name
    predictor = SimpleNamespace(
        task="image_classification",
        labels=["a", "b", "c"],
        settings={"valid_resize_size": CROP, "valid_crop_size": CROP},
        model=model,
        device="cpu",
    )
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(CROP, CROP, 3), dtype=np.uint8))
    [result] = explain_images(predictor, [image], method="guided_gradcam", visualizations=False)
    attributions = np.asarray(result["attributions"])
    assert attributions.shape == (3, CROP, CROP) and np.isfinite(attributions).all()
    assert np.abs(attributions).sum() > 0


def test_a_model_without_convolutions_has_no_gradcam_layer():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    with pytest.raises(ExplainError, match="no convolutional layer for guided_gradcam"):
        find_cam_layer(model)
