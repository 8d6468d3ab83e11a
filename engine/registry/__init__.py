"""The model registry: versions, labels and lineage of model packages under $AUTOML_HOME.

Public names:
- `ModelRegistry(home=None)`: `register`, `get`, `list`, `set_label`, `delete`.
- `ModelVersion`, `ModelRegistryError`, `automl_home()`.
- `register_package(name, package_dir, ...)`: register with lineage read from the run.
- `resolve_model_ref(ref)`: NAME, NAME:VERSION, NAME@label or a folder -> package folder.
- `resolve_checkpoint_ref`, `resolve_registered_checkpoint`: incremental training sources.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

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
    """Register the package in `package_dir` (checked by reading its model file with
    weights_only=True, never executing code) with its lineage."""
    from automl.engine.models.package import read_model_record

    folder = package_folder(Path(package_dir))
    if folder is None:
        raise ModelRegistryError(
            f"{package_dir}: no model package here (no model.pt)",
            hint="register a trial's outputs/, a run's best_model/ or use --job NAME",
        )
    try:
        record = read_model_record(folder / "model.pt")
    except pickle.UnpicklingError as exc:
        raise ModelRegistryError(
            f"{folder / 'model.pt'}: not a safe model file (torch.load(weights_only=True) "
            f"refused it: {str(exc).splitlines()[0]})",
            hint="register packages written by automl-vision trials only",
        ) from None
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


__all__ = [
    "LATEST",
    "ModelRegistry",
    "ModelRegistryError",
    "ModelVersion",
    "automl_home",
    "collect_lineage",
    "find_package_run_dir",
    "package_digest",
    "package_folder",
    "parse_model_ref",
    "register_package",
    "resolve_checkpoint_ref",
    "resolve_model_ref",
    "resolve_registered_checkpoint",
]
