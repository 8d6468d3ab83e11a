"""automl-vision's Python API: the same engine functions as the `automl` command.

    import automl

    result = automl.run_job("job.yml", **{"training_parameters.number_of_epochs": 1})
    model = automl.load_model(result.name)          # or a registry reference, or a folder
    print(model.predict("cat.jpg").label)

`import automl` stays cheap: each name is imported on first use (torch only then).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from automl._jobs import JobResult, run_job
    from automl._model import Model, load_model
    from automl._results import Box, ClassificationResult, DetectionResult
    from automl.engine.errors import AutomlError

# public name -> the module of this package that defines it
_HOMES = {
    "run_job": "automl._jobs",
    "JobResult": "automl._jobs",
    "load_model": "automl._model",
    "Model": "automl._model",
    "ClassificationResult": "automl._results",
    "DetectionResult": "automl._results",
    "Box": "automl._results",
    "AutomlError": "automl.engine.errors",
}

__all__ = [
    "AutomlError",
    "Box",
    "ClassificationResult",
    "DetectionResult",
    "JobResult",
    "Model",
    "load_model",
    "run_job",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'automl' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
