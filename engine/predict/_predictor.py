"""`Predictor`: the one place a model package becomes predictions."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from automl import schemas
from automl.engine.predict._base import PREDICTORS, PredictError, TaskPredictor
from automl.engine.tasks import TASKS, adapter_key

logger = logging.getLogger("automl.predict")


class Predictor:
    """A loaded model package: `predict(images)` returns Azure's response objects.

    Build it with `Predictor.from_package(dir)`; the `TaskPredictor` of the package's task
    kind and model runtime (`PREDICTORS`) does the preprocessing, forward pass and
    post-processing.
    """

    def __init__(self, task_predictor: TaskPredictor, meta: dict, model_dir: Path | None = None):
        self.task_predictor = task_predictor
        self.meta = meta
        self.model_dir = model_dir
        # null or absent: the schema's default
        self.batch_size = int(
            task_predictor.settings.get("inference_batch_size")
            or schemas.inference_default(meta["task"], "inference_batch_size")
        )

    @classmethod
    def from_package(
        cls, model_dir: str | os.PathLike, *, device: str = "cpu", settings: dict | None = None
    ) -> Predictor:
        """Load the package in `model_dir`; `settings` override its settings.json keys."""
        from automl.engine.models import load_model_package
        from automl.engine.models._checks import check_settings

        model_dir = Path(model_dir)
        model, meta = load_model_package(model_dir)
        merged = {**meta["settings"], **check_settings(settings or {}, meta["task"], "--setting")}
        unknown = sorted(set(settings or {}) - set(meta["settings"]))
        if unknown:
            logger.warning(
                "settings not in %s/settings.json (used as given): %s",
                model_dir,
                ", ".join(unknown),
            )
        predictor_class = task_predictor_class(meta["task"], meta.get("model_name"))
        task_predictor = build_task_predictor(
            predictor_class, model, meta, merged, resolve_device(device), model_dir
        )
        return cls(task_predictor, {**meta, "settings": merged}, model_dir)

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    @property
    def settings(self) -> dict:
        return self.task_predictor.settings

    @property
    def model(self) -> nn.Module:
        return self.task_predictor.model

    @property
    def device(self) -> torch.device:
        return self.task_predictor.device

    def decode_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The smallest decode of a width x height image that predicts the same (None:
        in full); see TaskPredictor.decode_size."""
        return self.task_predictor.decode_size(width, height)

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor | list[torch.Tensor]:
        """The model input for `images` (the task's validation preprocessing)."""
        return self.task_predictor.preprocess(images)

    def predict(self, images: list[Image.Image], *, batch_size: int | None = None) -> list[dict]:
        """One response object per RGB image, computed `batch_size` images at a time."""
        size = batch_size or self.batch_size
        results: list[dict] = []
        for start in range(0, len(images), size):
            results.extend(self.task_predictor.predict_batch(images[start : start + size]))
        return results


def load_predictor(
    ref: str | os.PathLike, *, device: str = "cpu", settings: dict | None = None
) -> Predictor:
    """The predictor of a model reference as every command takes it (`model predict`,
    `model serve`, the Python API's `load_model`): a package path, a registry reference
    `name[:version|@label]`, or a job name (its best model)."""
    from automl.engine.registry import resolve_model_ref

    return Predictor.from_package(
        resolve_model_ref(os.fspath(ref)), device=device, settings=settings
    )


def build_task_predictor(
    predictor_class: type[TaskPredictor],
    model: nn.Module,
    meta: dict,
    settings: dict,
    device: torch.device,
    model_dir: Path,
) -> TaskPredictor:
    """The task predictor; a setting it needs but the package lacks is a one-line error."""
    try:
        return predictor_class(model, meta, settings, device)
    except KeyError as exc:
        raise PredictError(
            f"{model_dir}: the model's settings lack {exc.args[0]!r}, which {meta['task']} "
            "predictions need",
            hint="add it to settings.json (or pass --setting KEY=VALUE)",
        ) from None


def task_predictor_class(task: str, model_name: str) -> type[TaskPredictor]:
    """The predictor of `task`'s kind for `model_name`'s runtime, or a PredictError saying
    what is missing."""
    from automl.engine.models import get_model_spec

    key = adapter_key(TASKS.get(task).kind, get_model_spec(model_name).runtime)
    if key not in PREDICTORS:
        raise PredictError(
            f"no predictor for task {task!r} and model {model_name!r} ({key}) in this "
            f"installation (known: {', '.join(PREDICTORS.names())})",
            hint="install the automl-vision version that trained this model",
        )
    return PREDICTORS.get(key)


def resolve_device(name: str) -> torch.device:
    """`cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PredictError(
            f"device {name!r} asked for, but CUDA is not available", hint="use --device cpu"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise PredictError(
            f"unknown device {name!r}", hint="use cpu, cuda, cuda:N or auto"
        ) from None
