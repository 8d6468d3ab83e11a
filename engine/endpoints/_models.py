"""A deployment's `model`, resolved in the local registry when the deployment is created
(as Azure resolves `@latest` then): `azureml:NAME:VERSION`, `azureml:NAME@latest`,
`NAME:VERSION`, `NAME@label`, or an inline `{path: FOLDER}` model package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.registry import ModelRegistry, package_folder, parse_model_ref

AZUREML_PREFIX = "azureml:"
CLOUD_FORMS = ("azureml://", "/subscriptions/")


@dataclass(frozen=True)
class ResolvedModel:
    """What a deployment serves: the registry version (None for an inline folder) and the
    package folder it loads."""

    ref: str | None
    path: Path


def resolve_model(model: str | dict, file: Path, registry: ModelRegistry | None = None):
    """The package of a deployment's `model` (`file`: the deployment file, for messages
    and for an inline path relative to it)."""
    if isinstance(model, dict):
        return _inline(model, file)
    text = model.strip()
    if text.startswith(CLOUD_FORMS):
        raise AutomlError(
            f"{file}: model {text!r} names an Azure registry or workspace asset; only models "
            "of the local registry can be served",
            hint="register the model here (automl model register --name NAME --job JOB) and "
            "write model: azureml:NAME@latest",
        )
    if text.startswith(AZUREML_PREFIX):
        text = text[len(AZUREML_PREFIX) :]
    name, version, label = parse_model_ref(text)
    try:
        entry = (registry or ModelRegistry()).get(name, version, label)
    except AutomlError as exc:
        raise AutomlError(f"{file}: model {model!r}: {exc.message}", hint=exc.hint) from None
    return ResolvedModel(entry.ref, entry.path)


def _inline(model: dict, file: Path) -> ResolvedModel:
    folder = Path(model["path"]).expanduser()
    if not folder.is_absolute():
        folder = file.parent / folder
    found = package_folder(folder)
    if found is None:
        raise AutomlError(
            f"{file}: model.path {model['path']!r}: no model package there (no model.pt in "
            f"{folder})",
            hint="point it at a run's best_model/ or a trial's outputs/, or register the model "
            "and write model: azureml:NAME@latest",
        )
    return ResolvedModel(None, found)
