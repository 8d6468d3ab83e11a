"""The model package (`outputs/`, `best_model/`): what a trained trial leaves for reuse.

model.pt          {"state_dict", "task", "model_name", "labels", "settings",
                   "training_parameters", "format_version": 1} (+ "model_yaml" for
                   Ultralytics models); torch.load(weights_only=True)
settings.json     inference settings (Azure runtime names: valid_resize_size, ...)
labels.json       class names in index order
MLmodel           MLflow python_function descriptor, loader: automl.engine.predict.mlflow_loader
requirements.txt  versions the model was trained with
"""

from __future__ import annotations

import os
import platform
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from automl.engine.errors import AutomlError, LimitError
from automl.engine.models._base import family_of, get_model_spec
from automl.engine.models._checks import (
    LOADER_MODULE,
    MAX_QUOTED_CHARS,
    check_mlmodel,
    check_record,
    check_settings,
    package_error,
    quoted,
    read_labels_file,
    read_settings_file,
)
from automl.engine.utils.files import write_json_atomic, write_text_atomic

FORMAT_VERSION = 1
MODEL_FILE = "model.pt"
REQUIRED_PACKAGES = ("torch", "torchvision", "timm", "pillow", "numpy", "automl-vision")


def package_settings(
    task: str, model_name: str, labels: list[str], training_parameters: dict
) -> dict:
    """settings.json of any model (reference §10.3): its family writes it."""
    return family_of(model_name).package_settings(task, model_name, labels, training_parameters)


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
    if callable(getattr(model, "package_record", None)):  # Transformers models: hf_config
        record.update(model.package_record())
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
    """Load a model.pt (or `<epoch>_model.pt`) with weights_only=True and check its format
    and content (`check_record`); a missing, oversized, corrupt or unsafe file is a
    PackageError naming it."""
    if not os.path.lexists(path):
        raise AutomlError(
            f"{path}: no model file here",
            hint="point at a trial's outputs/ or a run's best_model/ folder",
        )
    record = torch_load_bounded(path)
    version = record.get("format_version") if isinstance(record, dict) else None
    if version != FORMAT_VERSION:
        raise AutomlError(
            f"{path}: unsupported model package format_version {quoted(version)} "
            f"(this automl-vision reads {FORMAT_VERSION})",
            hint="re-export the model with the automl-vision version that trained it",
        )
    return check_record(record, path)


def torch_load_bounded(path: Path) -> object:
    """torch.load(weights_only=True) of a regular file within `model_file_bytes`."""
    import pickle
    import warnings
    import zipfile

    from automl.engine.utils.files import check_regular_file
    from automl.schemas import limit, limit_hint

    size = check_regular_file(path, "model file").st_size
    if size > limit("model_file_bytes"):
        raise LimitError(
            f"{path}: {size:,} bytes, over the limit of {limit('model_file_bytes'):,} bytes",
            hint=limit_hint("model_file_bytes"),
        )
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of bad files
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message advises weights_only=False, which would run the file's code
        raise package_error(
            path,
            "holds objects other than tensors and plain data; it is not a model package "
            "this tool wrote, and it is not loaded",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise package_error(
            path, f"not a readable model file, truncated or corrupt ({first[:MAX_QUOTED_CHARS]})"
        ) from None


def load_model_package(model_dir: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild the model of a package in eval mode; return (model, meta).

    `meta` holds task, model_name, labels, settings and training_parameters. Nothing in
    the package is executed: see engine/models/_checks.py.
    """
    package = read_package(model_dir)
    record = package.record
    meta = {key: value for key, value in record.items() if key != "state_dict"}
    model = build_package_model(package)
    load_package_state(model, record["state_dict"], package.path)
    model.eval()
    return model, meta


@dataclass
class PackageContent:
    """A package's checked content: the model.pt record (its settings with settings.json
    merged over them), the model.pt path, and for families that record their architecture
    (YOLO's model YAML) the checked config to build."""

    record: dict
    path: Path
    config: dict | None = None


def read_package(model_dir: str | os.PathLike) -> PackageContent:
    """The checked content of a package folder or model.pt file: edited settings.json
    values win over the recorded ones (as in Azure); labels.json and MLmodel are checked.
    Builds nothing: `model register` uses it."""
    model_dir = Path(model_dir)
    path = model_dir if model_dir.is_file() else model_dir / MODEL_FILE
    record = read_model_record(path)
    record["settings"] = check_settings(record["settings"], record["task"], path)
    package = PackageContent(record, path)
    family = family_of(record["model_name"])
    if family.package_config is not None:  # the architecture of the weights, as recorded
        package.config = family.package_config(record, path)
    edited = read_settings_file(path.parent, record["task"])
    if edited is not None:
        record["settings"] = {**record["settings"], **edited}
    read_labels_file(path.parent)
    check_mlmodel(path.parent)
    return package


def load_package_state(model: nn.Module, state: dict, path: Path) -> None:
    """The package's tensors into `model`; any missing, extra or misshapen tensor is a
    one-line error (the model file does not match its model_name, labels or size)."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        details = " ".join(str(exc).split())
        raise package_error(
            path, f"its tensors do not fit model {details[: MAX_QUOTED_CHARS * 2]}"
        ) from None


def build_package_model(package: PackageContent) -> nn.Module:
    """The untrained module of a package's model, built by its family: from the recorded
    config, or from the (possibly edited) settings.json values (a detector's resize and
    thresholds are constructor arguments)."""
    record = package.record
    family = family_of(record["model_name"])
    if package.config is not None and family.build_from_config is not None:
        return family.build_from_config(package.config, record["task"])
    spec = get_model_spec(record["model_name"])
    return family.build(spec, len(record["labels"]), False, record["settings"])
