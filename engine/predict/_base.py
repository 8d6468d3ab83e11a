"""What every task predictor provides, and the registry that maps a task to its predictor."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from PIL import Image
from torch import nn

from automl.engine.errors import AutomlError
from automl.engine.utils.registry import Registry


class PredictError(AutomlError):
    """A model package cannot be used for predictions, or an input cannot be scored."""


@dataclass
class OnnxProgram:
    """How to export one task's model to ONNX (engine/export runs it; parity uses it too).

    `module` is traced with `example` as its positional inputs; `inputs(images)` builds the
    graph's input tensors from PIL images (the same preprocessing as validation, without the
    normalisation when `enable_onnx_normalization` bakes it into the graph).
    """

    module: nn.Module
    example: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    min_opset: int = 11
    inputs: object = None  # Callable[[list[Image.Image]], tuple[torch.Tensor, ...]]
    tolerance: float = 1e-4


class TaskPredictor(ABC):
    """One task's preprocessing, forward pass and post-processing into Azure's format.

    Subclasses register with `@TASK_PREDICTORS.register("<task>")`. `settings` are the
    package's inference settings (settings.json, with overrides applied).
    """

    def __init__(self, model: nn.Module, meta: dict, settings: dict, device: torch.device):
        self.model = model.to(device).eval()
        self.meta = meta
        self.settings = settings
        self.device = device
        self.labels = list(meta["labels"])

    @abstractmethod
    def preprocess(self, images: list[Image.Image]) -> torch.Tensor | list[torch.Tensor]:
        """Model input for RGB PIL images (validation preprocessing of the task)."""

    @abstractmethod
    def predict_batch(self, images: list[Image.Image]) -> list[dict]:
        """Azure response objects (reference §7.2), one per image."""

    def decode_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The smallest size a width x height image may be decoded at without changing the
        prediction (JPEGs then decode at 1/2-1/8 scale); None: decode in full (boxes and
        masks are reported on the full image)."""
        return None

    def onnx_program(
        self, *, batch_size: int = 1, dynamic_batch: bool = False, normalization: bool = False
    ) -> OnnxProgram:
        """The ONNX export recipe of this task; tasks without one refuse by name."""
        raise PredictError(
            f"task {self.meta.get('task')!r} (model {self.meta.get('model_name')!r}) has no "
            "ONNX export",
            hint="export a model of a task whose predictor defines onnx_program()",
        )


TASK_PREDICTORS: Registry[type[TaskPredictor]] = Registry("task predictor")
