"""Model references: `NAME`, `NAME:VERSION`, `NAME@label`, a package folder or a run
directory, turned into the folder of a model package."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.registry._store import ModelRegistry, ModelRegistryError
from automl.engine.registry.run_index import RunIndex

MODEL_FILE = "model.pt"
_REF_PATTERN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?::(?P<version>[^:@]+)|@(?P<label>[^:@]+))?$"
)


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """`name`, `name:version`, `name@label` -> (name, version, label)."""
    match = _REF_PATTERN.match(ref.strip())
    if match is None:
        raise ModelRegistryError(
            f"model reference {ref!r} is neither NAME, NAME:VERSION, NAME@LABEL nor a folder",
            hint="e.g. flowers, flowers:3, flowers@production or runs/my-job/best_model",
        )
    return match["name"], match["version"], match["label"]


def package_folder(path: Path) -> Path | None:
    """A package folder for a path: the folder itself, its model.pt's folder, or a run
    directory's best_model/."""
    for candidate in (path, path / "best_model"):
        if (candidate / MODEL_FILE).is_file():
            return candidate.resolve()
    if path.is_file() and path.name == MODEL_FILE:
        return path.parent.resolve()
    return None


def resolve_model_ref(ref: str, *, registry: ModelRegistry | None = None) -> Path:
    """The package folder of `ref`: a filesystem path wins, then the registry, then a job
    name (its best model): from the index of runs, so from any folder, or under ./runs."""
    path = Path(os.path.expanduser(ref))
    if path.exists():
        folder = package_folder(path)
        if folder is None:
            raise AutomlError(
                f"{path}: no model package here (no {MODEL_FILE})",
                hint="point at a trial's outputs/, a run's best_model/ or a run directory",
            )
        return folder
    name, version, label = parse_model_ref(ref)
    try:
        return (registry or ModelRegistry()).get(name, version, label).path
    except ModelRegistryError:
        job_model = _job_best_model(name) if version is None and label is None else None
        if job_model is not None:
            return job_model
        raise


def _job_best_model(name: str) -> Path | None:
    """A job's best_model/ by the job's name, as `automl job show` takes it."""
    indexed = RunIndex().get(name)
    for run_dir in (indexed.run_dir if indexed else None, Path("runs") / name):
        if run_dir is not None and (run_dir / "best_model" / MODEL_FILE).is_file():
            return (run_dir / "best_model").resolve()
    return None


def resolve_checkpoint_ref(
    reference: str, runs_roots: list[Path], run_dirs: Sequence[Path] = ()
) -> Path:
    """`checkpoint_run_id` (incremental training): a package or run folder, a job name (its
    best model) or `job/trial` (that trial's outputs), looked up in `run_dirs` (the job's
    run directory when the caller knows it), then under `runs_roots`."""
    direct = package_folder(Path(os.path.expanduser(reference)))
    if direct is not None:
        return direct
    job, _, trial = reference.partition("/")
    for run_dir in [*run_dirs, *(root / job for root in runs_roots)]:
        folder = run_dir / "trials" / trial / "outputs" if trial else run_dir / "best_model"
        if (folder / MODEL_FILE).is_file():
            return folder.resolve()
    where = ", ".join(str(root) for root in runs_roots)
    raise AutomlError(
        f"checkpoint_run_id={reference!r}: no model package found (looked for a folder, "
        f"for job{'/trial' if trial else ''} in the index of runs and under {where})",
        hint="give a job name, job/trial number, a run directory or a model package folder",
    )


def resolve_registered_checkpoint(reference: str) -> Path:
    """`checkpoint_model: NAME[:VERSION|@label]` -> the registered package's folder."""
    name, version, label = parse_model_ref(reference)
    return ModelRegistry().get(name, version, label).path
