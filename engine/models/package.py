"""The model package (`outputs/`, `best_model/`): what a trained trial leaves for reuse.

model.pt          {"state_dict", "task", "model_name", "labels", "settings",
                   "training_parameters", "format_version": 1} (+ "model_yaml" for
                   Ultralytics models); torch.load(weights_only=True)
settings.json     inference settings (Azure runtime names: valid_resize_size, ...)
labels.json       class names in index order
MLmodel           MLflow python_function descriptor, loader: automl.engine.models.mlflow_loader
requirements.txt  versions the model was trained with
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from automl.engine.errors import AutomlError
from automl.engine.utils.files import write_json_atomic, write_text_atomic

FORMAT_VERSION = 1
MODEL_FILE = "model.pt"
LOADER_MODULE = "automl.engine.models.mlflow_loader"
REQUIRED_PACKAGES = ("torch", "torchvision", "timm", "pillow", "numpy", "automl-vision")


def classification_settings(
    task: str, model_name: str, labels: list[str], training_parameters: dict
) -> dict:
    """Inference settings of a classifier, from the trial's effective parameters."""
    from automl.engine.models._base import get_model_spec

    spec = get_model_spec(model_name)
    multilabel = task == "image_classification_multilabel"
    return {
        "task": task,
        "model_name": model_name,
        "n_classes": len(labels),
        "multilabel": multilabel,
        "valid_resize_size": training_parameters["validation_resize_size"],
        "valid_crop_size": training_parameters["validation_crop_size"],
        "train_crop_size": training_parameters["training_crop_size"],
        "mean": list(spec.mean),
        "std": list(spec.std),
        "score_threshold": 0.5 if multilabel else None,
    }


def package_settings(
    task: str, model_name: str, labels: list[str], training_parameters: dict
) -> dict:
    """settings.json of any task: classification or detection keys (reference §10.3)."""
    from automl.engine.models._detection import detection_settings, is_object_task
    from automl.engine.models._yolo import is_yolo_model, yolo_settings

    if is_yolo_model(model_name):
        return yolo_settings(task, model_name, labels, training_parameters)
    if is_object_task(task):
        return detection_settings(task, model_name, labels, training_parameters)
    return classification_settings(task, model_name, labels, training_parameters)


def save_torch_atomic(obj: dict, path: Path) -> None:
    """torch.save through a temporary file and a rename (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_record(
    model: nn.Module, task: str, model_name: str, labels: list[str], settings: dict, params: dict
) -> dict:
    """The model.pt dictionary (also used for `<epoch>_model.pt` checkpoints)."""
    record = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "task": task,
        "model_name": model_name,
        "labels": list(labels),
        "settings": settings,
        "training_parameters": params,
        "format_version": FORMAT_VERSION,
    }
    if isinstance(getattr(model, "yaml", None), dict):  # Ultralytics models: their YAML dict
        record["model_yaml"] = model.yaml
    return record


def write_model_package(
    out_dir: str | os.PathLike,
    model: nn.Module,
    *,
    task: str,
    model_name: str,
    labels: list[str],
    training_parameters: dict,
) -> Path:
    """Write the model package of `model` into `out_dir`; return the folder."""
    out_dir = Path(out_dir)
    settings = package_settings(task, model_name, labels, training_parameters)
    record = model_record(model, task, model_name, labels, settings, training_parameters)
    save_torch_atomic(record, out_dir / MODEL_FILE)
    write_json_atomic(out_dir / "settings.json", settings)
    write_json_atomic(out_dir / "labels.json", list(labels))
    write_text_atomic(out_dir / "MLmodel", mlmodel_text(task, model_name))
    write_text_atomic(out_dir / "requirements.txt", requirements_text())
    return out_dir


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def requirements_text() -> str:
    """`name==version` per package the model needs (local builds keep their +cu suffix)."""
    lines = []
    for name in REQUIRED_PACKAGES:
        version = package_version(name)
        lines.append(f"{name}=={version}" if version else name)
    return "\n".join(lines) + "\n"


def mlmodel_text(task: str, model_name: str) -> str:
    """MLflow `MLmodel` descriptor: python_function flavor loaded by our own module."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    mlflow_version = package_version("mlflow")
    lines = [
        "flavors:",
        "  python_function:",
        "    data: .",
        f"    loader_module: {LOADER_MODULE}",
        f"    python_version: {platform.python_version()}",
        "    env:",
        "      virtualenv: requirements.txt",
        "metadata:",
        f"  base_model_name: {model_name}",
        f"  finetuning_task: {task}",
        "  is_automl_model: true",
        f"model_uuid: {uuid.uuid4().hex}",
        f"utc_time_created: '{created}'",
    ]
    if mlflow_version:
        lines.append(f"mlflow_version: {mlflow_version}")
    return "\n".join(lines) + "\n"


def read_model_record(path: Path) -> dict:
    """Load a model.pt (or `<epoch>_model.pt`) with weights_only=True and check its format."""
    if not path.is_file():
        raise AutomlError(
            f"{path}: no model file here",
            hint="point at a trial's outputs/ or a run's best_model/ folder",
        )
    record = torch.load(path, map_location="cpu", weights_only=True)
    version = record.get("format_version") if isinstance(record, dict) else None
    if version != FORMAT_VERSION:
        raise AutomlError(
            f"{path}: unsupported model package format_version {version!r} "
            f"(this automl-vision reads {FORMAT_VERSION})",
            hint="re-export the model with the automl-vision version that trained it",
        )
    return record


def load_model_package(model_dir: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild the model of a package in eval mode; return (model, meta).

    `meta` holds task, model_name, labels, settings and training_parameters.
    """
    model_dir = Path(model_dir)
    path = model_dir if model_dir.is_file() else model_dir / MODEL_FILE
    record = read_model_record(path)
    meta = {key: value for key, value in record.items() if key != "state_dict"}
    if (path.parent / "settings.json").is_file():  # edited settings win, as in Azure
        meta["settings"] = read_settings(path.parent)
    model = build_package_model(record, meta["settings"])
    model.load_state_dict(record["state_dict"])
    model.eval()
    return model, meta


def build_package_model(record: dict, settings: dict) -> nn.Module:
    """The untrained module of a package's model, dispatched on its task."""
    from automl.engine.models import build_detection_model, build_model
    from automl.engine.models._detection import is_object_task
    from automl.engine.models._yolo import build_package_yolo, is_yolo_model

    if is_yolo_model(record["model_name"]):
        return build_package_yolo(record, settings)
    if is_object_task(record["task"]):
        # the detector's resize and thresholds are constructor arguments: build with the
        # (possibly edited) settings.json values
        return build_detection_model(
            record["model_name"], len(record["labels"]), pretrained=False, settings=settings
        )
    return build_model(
        record["model_name"],
        len(record["labels"]),
        pretrained=False,
        crop_size=settings.get("valid_crop_size"),
    )


def read_settings(model_dir: str | os.PathLike) -> dict:
    """settings.json of a package (users may edit it, as in Azure)."""
    return json.loads((Path(model_dir) / "settings.json").read_text(encoding="utf-8"))
