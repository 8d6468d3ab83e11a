"""Which layer Grad-CAM reads, per architecture.

- torchvision ResNets and timm ResNeSt / SE-ResNeXt: `layer4`, the last residual stage.
- MobileNetV2: `features.<last>`, the final 1x1 convolution block (1280 channels).
- ViTs (timm): `blocks.<last>.norm1`, the LayerNorm in front of the last block's attention;
  its patch tokens (prefix tokens such as the class token dropped) are laid back onto their
  grid, crop / 16 per side, as the usual Grad-CAM practice for transformers does.
- models with a `cam_layer()` method name their own (Transformers classifiers by hub id:
  the last block's `layernorm_before`, engine/models/_hf_classification.py).
- anything else (e.g. `test_tiny_cnn`): the top-level child that holds the last Conv2d
  (the tiny CNN's `stage2`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from automl.engine.explain._base import ExplainError


@dataclass(frozen=True)
class CamLayer:
    """The layer Grad-CAM reads, its dotted name, and how to turn its output into a grid."""

    module: nn.Module
    name: str
    n_prefix_tokens: int | None = None  # set for transformers: output is [B, tokens, dim]

    @property
    def is_token_layer(self) -> bool:
        return self.n_prefix_tokens is not None


def find_cam_layer(model: nn.Module) -> CamLayer:
    """The Grad-CAM layer of `model` (module docstring); ExplainError when it has none."""
    own = getattr(model, "cam_layer", None)
    if callable(own):  # models that name theirs (Transformers classifiers by hub id)
        module, name, n_prefix = own()
        return CamLayer(module, name, n_prefix)
    if hasattr(model, "blocks") and hasattr(model, "patch_embed"):
        last = len(model.blocks) - 1
        n_prefix = int(getattr(model, "num_prefix_tokens", 1))
        return CamLayer(model.blocks[last].norm1, f"blocks.{last}.norm1", n_prefix)
    if isinstance(getattr(model, "layer4", None), nn.Module):
        return CamLayer(model.layer4, "layer4")
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential) and len(features):
        return CamLayer(features[-1], f"features.{len(features) - 1}")
    return last_conv_child(model)


def last_conv_child(model: nn.Module) -> CamLayer:
    """The top-level child of `model` that holds its last Conv2d."""
    found = None
    for name, child in model.named_children():
        if any(isinstance(m, nn.Conv2d) for m in child.modules()):
            found = CamLayer(child, name)
    if found is None:
        raise ExplainError(
            f"{type(model).__name__} has no convolutional layer for guided_gradcam",
            hint="use integrated_gradients, guided_backprop or xrai for this model",
        )
    return found


def tokens_to_grid(tokens: torch.Tensor, n_prefix_tokens: int) -> torch.Tensor:
    """Transformer output [B, prefix + h*w, dim] -> feature map [B, dim, h, w]."""
    patches = tokens[:, n_prefix_tokens:, :]
    side = math.isqrt(patches.shape[1])
    if side * side != patches.shape[1]:
        raise ExplainError(
            f"guided_gradcam: {patches.shape[1]} patch tokens do not form a square grid",
            hint="explain this model with integrated_gradients or xrai",
        )
    return patches.reshape(patches.shape[0], side, side, patches.shape[2]).permute(0, 3, 1, 2)
