"""The model registry: versions, labels and lineage of model packages under $AUTOML_HOME.

Public names:
- `ModelRegistry(home=None)`: `register`, `get`, `list`, `set_label`, `delete`.
- `ModelVersion`, `ModelRegistryError`, `automl_home()`.
- `register_package(name, package_dir, ...)`: register with lineage read from the run.
- `resolve_model_ref(ref)`: NAME, NAME:VERSION, NAME@label or a folder -> package folder.
- `download_package(ref, output)`: copy a registered package into a new or empty folder.
- `resolve_checkpoint_ref`, `resolve_registered_checkpoint`: incremental training sources.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.registry._files import (
    PackageTreeError,
    check_download_target,
    copy_package_tree,
    package_entries,
)
from automl.engine.registry._store import (
    LATEST,
    ModelRegistry,
    ModelRegistryError,
    ModelVersion,
    automl_home,
    package_digest,
)
from automl.engine.registry.lineage import collect_lineage, find_package_run_dir
from automl.engine.registry.refs import (
    package_folder,
    parse_model_ref,
    resolve_checkpoint_ref,
    resolve_model_ref,
    resolve_registered_checkpoint,
)


def register_package(
    name: str,
    package_dir: str | os.PathLike,
    *,
    version: str | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
    registry: ModelRegistry | None = None,
) -> ModelVersion:
    """Register the package in `package_dir` with its lineage. The package is checked as
    loading checks it (engine/models/_checks.py: model.pt read with weights_only=True, a
    registered model of its task, settings, labels, MLmodel, a YOLO config equal to
    Ultralytics' own), and it may hold only regular files and folders within the limits;
    nothing in it is executed."""
    from automl.engine.models.package import read_package

    folder = package_folder(Path(package_dir))
    if folder is None:
        raise ModelRegistryError(
            f"{package_dir}: no model package here (no model.pt)",
            hint="register a trial's outputs/, a run's best_model/ or use --job NAME",
        )
    package_entries(folder)  # links and special files refused before anything is read
    record = read_package(folder).record
    meta = {k: v for k, v in record.items() if k != "state_dict"}
    lineage = collect_lineage(folder, meta)
    return (registry or ModelRegistry()).register(
        name,
        folder,
        version=version,
        tags=tags,
        description=description,
        lineage=lineage,
        meta=meta,
    )


def download_package(
    ref: str, output: str | os.PathLike, *, registry: ModelRegistry | None = None
) -> ModelVersion:
    """Copy the registered package of `ref` (NAME, NAME:VERSION, NAME@label) into the
    folder `output`, which must be new or empty; a new folder appears only complete."""
    name, version, label = parse_model_ref(ref)
    entry = (registry or ModelRegistry()).get(name, version, label)
    output = Path(output)
    check_download_target(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = output.parent / f".{output.name}.{uuid.uuid4().hex[:12]}.tmp"
        staging.mkdir()  # the user's umask, as the folder it becomes
    except OSError as exc:
        raise AutomlError(
            f"{output}: cannot create the folder ({exc.strerror})",
            hint="give a folder path whose parent is a writable folder",
        ) from None
    try:
        copy_package_tree(entry.path, staging)
        os.replace(staging, output)  # onto a new name or an empty folder
    except OSError as exc:  # `output` filled or made a file meanwhile
        raise AutomlError(
            f"{output}: cannot put the package there ({exc.strerror})",
            hint="give the path of a new or empty folder",
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry


__all__ = [
    "LATEST",
    "ModelRegistry",
    "ModelRegistryError",
    "ModelVersion",
    "automl_home",
    "PackageTreeError",
    "collect_lineage",
    "download_package",
    "find_package_run_dir",
    "package_digest",
    "package_folder",
    "parse_model_ref",
    "register_package",
    "resolve_checkpoint_ref",
    "resolve_model_ref",
    "resolve_registered_checkpoint",
]
