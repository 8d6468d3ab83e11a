"""Model families: how a family's models are built, packaged and rebuilt from a package.

Every `ModelSpec` names its family (the names of schemas/models.json's `families`) and its
`runtime`: "torch" for models our own training loop trains (torchvision, timm, builtin),
"ultralytics" for YOLO, whose library runs the epochs. How a model is trained and how it
predicts depends on the task's kind and the runtime only: trainers and predictors are
looked up by (task kind, runtime) in engine/training/trainers.py and engine/predict/_base.py
(export goes through the predictor's `onnx_program`). A new family registers a
`ModelFamily` here and its specs with `register_model`; a new runtime also registers a
trainer and a predictor for each task kind it serves. No dispatch code changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from automl.engine.utils.registry import Registry

if TYPE_CHECKING:
    from automl.engine.models._base import ModelSpec

# (spec, n_labels, pretrained, settings) -> module; settings are the package's inference
# settings in runtime names (settings.json), which is all a package has to rebuild from
ModelBuilder = Callable[["ModelSpec", int, bool, dict], nn.Module]
# (task, model_name, labels, training_parameters) -> settings.json of the package
SettingsWriter = Callable[[str, str, list[str], dict], dict]
# (model.pt record, its path) -> the checked build config a package is rebuilt from
PackageConfigReader = Callable[[dict, Path], dict]
# (checked build config, task) -> the untrained module
ConfigBuilder = Callable[[dict, str], nn.Module]


@dataclass(frozen=True)
class ModelFamily:
    """One family of models and its adapters.

    - `runtime`: who trains and predicts its models (the key, with the task kind, of the
      trainer and predictor tables); every spec of the family has this runtime.
    - `build`: a fresh module from the package settings (training and package loading).
    - `package_settings`: settings.json of a trained model (Azure's runtime names).
    - `package_config` / `build_from_config`: families whose architecture is recorded in the
      package (YOLO's model YAML) check it when the package is read and rebuild from it;
      None: the package is rebuilt with `build` from its settings.
    - `distributed`: its trials may train on several GPUs with our DDP (Ultralytics' own
      loop trains YOLO on one).
    """

    name: str
    runtime: str
    build: ModelBuilder
    package_settings: SettingsWriter
    package_config: PackageConfigReader | None = None
    build_from_config: ConfigBuilder | None = None
    distributed: bool = True


FAMILIES: Registry[ModelFamily] = Registry("model family")


def register_family(family: ModelFamily) -> ModelFamily:
    """Add `family` to the registry (a duplicate name raises at import time)."""
    FAMILIES.add(family.name, family)
    return family


def get_family(name: str) -> ModelFamily:
    """The family called `name`; an unknown name raises RegistryError."""
    return FAMILIES.get(name)
