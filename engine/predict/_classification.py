"""The predictor of the classification tasks (torch runtime): softmax (multi-class) or
sigmoid (multi-label), as the task descriptor says."""

from __future__ import annotations

import copy

import torch
from PIL import Image
from torch import nn

from automl.engine.predict._base import OnnxProgram, PredictError, TaskPredictor, register_predictor


class ClassificationPredictor(TaskPredictor):
    """Resize, centre-crop, normalise (as validation); softmax over classes (multi-class) or
    independent sigmoid scores per class (multi-label: the threshold is the caller's)."""

    def __init__(self, model: nn.Module, meta: dict, settings: dict, device: torch.device):
        super().__init__(model, meta, settings, device)
        self.multilabel = self.task.multilabel
        self.mean = tuple(self.setting("mean"))
        self.std = tuple(self.setting("std"))
        self.resize_size = int(settings["valid_resize_size"])
        self.crop_size = int(settings["valid_crop_size"])
        self.transform = self.task.preprocessing.valid(
            self.resize_size, self.crop_size, self.mean, self.std
        )

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        return torch.stack([self.transform(image) for image in images])

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        return self.transform.decode_size(width, height)

    @torch.inference_mode()
    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits of a preprocessed batch, as float32 on the CPU."""
        return self.model(batch.to(self.device)).float().cpu()

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)

    def predict_batch(self, images: list[Image.Image]) -> list[dict]:
        if not images:
            return []
        probs = self.probabilities(self.forward(self.preprocess(images)))
        return [{"probs": row.tolist(), "labels": list(self.labels)} for row in probs]

    def evaluate(self, truth: list, predictions: list[dict]) -> dict[str, float]:
        """Azure's metrics of the task (its evaluator) from labels and response objects."""
        import numpy as np

        index = {name: i for i, name in enumerate(self.labels)}
        probs = np.array([p["probs"] for p in predictions], dtype=np.float64)
        if self.multilabel:
            y_true = np.zeros_like(probs, dtype=np.int64)
            for row, names in enumerate(truth):
                y_true[row, [index[n] for n in names if n in index]] = 1
        else:
            y_true = np.array([index.get(name, -1) for name in truth])
            if (y_true < 0).any():
                unknown = sorted({n for n in truth if n not in index})
                raise PredictError(f"labels unknown to the model: {', '.join(unknown)}")
        return self.task.evaluator(self.task.name, y_true, probs)

    def onnx_program(
        self, *, batch_size: int = 1, dynamic_batch: bool = False, normalization: bool = False
    ) -> OnnxProgram:
        """Azure's classification graph (§11.1): `input1` (batch, 3, crop, crop) -> `output1`
        logits; with `normalization` the graph takes 0-255 pixels and normalises itself."""
        module: nn.Module = copy.deepcopy(self.model).cpu().eval()  # serving stays put
        if normalization:
            module = NormalizingModule(module, self.mean, self.std).eval()
        example = (torch.zeros(batch_size, 3, self.crop_size, self.crop_size),)
        axes = {"input1": {0: "batch"}, "output1": {0: "batch"}} if dynamic_batch else {}
        return OnnxProgram(
            module=module,
            example=example,
            input_names=["input1"],
            output_names=["output1"],
            dynamic_axes=axes,
            min_opset=11,
            inputs=lambda images: (self.onnx_inputs(images, normalization),),
        )

    def onnx_inputs(self, images: list[Image.Image], normalization: bool) -> torch.Tensor:
        batch = self.preprocess(images)
        if not normalization:
            return batch
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (batch * std + mean) * 255.0  # back to raw pixels, the graph's input


class NormalizingModule(nn.Module):
    """`enable_onnx_normalization`: the graph divides by 255 and applies mean/std itself."""

    def __init__(self, model: nn.Module, mean, std) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("scale", 1.0 / (255.0 * torch.tensor(std).view(1, 3, 1, 1)))
        self.register_buffer("shift", (torch.tensor(mean) / torch.tensor(std)).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixels * self.scale - self.shift)


register_predictor("classification", "torch", ClassificationPredictor)
