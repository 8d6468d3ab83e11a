"""What every task predictor provides, and the table that finds a package's predictor.

`PREDICTORS` is keyed by (task kind, model runtime) (`adapter_key`, e.g.
"segmentation/ultralytics"), as Ultralytics' `task_map` maps a task to its predictor: the
package's task gives the kind (engine/tasks), its model the runtime (engine/models).
A new runtime or task kind registers its predictor with `register_predictor`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from PIL import Image
from torch import nn

from automl import schemas
from automl.engine.errors import AutomlError
from automl.engine.tasks import TaskDescriptor, adapter_key, get_task
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
    """One task kind's preprocessing, forward pass and post-processing into Azure's format.

    Subclasses register with `register_predictor(kind, runtime, cls)`. `settings` are the
    package's inference settings (settings.json, with overrides applied); `task` is the
    descriptor of the package's task.
    """

    def __init__(self, model: nn.Module, meta: dict, settings: dict, device: torch.device):
        self.model = model.to(device).eval()
        self.meta = meta
        self.settings = settings
        self.device = device
        self.labels = list(meta["labels"])
        self.task: TaskDescriptor = get_task(meta["task"])

    def setting(self, key: str):
        """settings.json's `key`, or the schema's default when the package lacks it
        (package_settings.schema.json, else the task's default of that parameter)."""
        if key in self.settings:
            return self.settings[key]
        return schemas.inference_default(self.task.name, key)

    @abstractmethod
    def preprocess(self, images: list[Image.Image]) -> torch.Tensor | list[torch.Tensor]:
        """Model input for RGB PIL images (validation preprocessing of the task)."""

    @abstractmethod
    def predict_batch(self, images: list[Image.Image]) -> list[dict]:
        """Azure response objects (docs/azure-compatibility.md §7.2), one per image."""

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


PREDICTORS: Registry[type[TaskPredictor]] = Registry("predictor (task kind/model runtime)")


def register_predictor(kind: str, runtime: str, predictor: type[TaskPredictor]) -> None:
    """Add the predictor of models of `runtime` for tasks of `kind` (a duplicate raises)."""
    PREDICTORS.add(adapter_key(kind, runtime), predictor)
