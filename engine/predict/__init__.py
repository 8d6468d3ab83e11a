"""The predictor: the one place a model package becomes predictions (docs/azure-compatibility.md
§7.2).

Public names:
- `Predictor.from_package(dir, *, device="cpu", settings=None)` and `Predictor.predict(images)`;
  `load_predictor(ref, ...)`: the same from a model reference (path, registry, job name).
- `sources`: paths, URLs, bytes, PIL images and numpy arrays as RGB images (the Python API).
- `PREDICTORS` (keyed by task kind and model runtime), `register_predictor` and
  `TaskPredictor`, their base class; `task_predictor_class(task, model_name)`.
- `OnnxProgram`: a task's ONNX export recipe (`TaskPredictor.onnx_program`).
- `PredictError`, `InputError`; `image_from_value`, `parse_data_item` for request values.
- `score_files`, `read_scoring_inputs`, `evaluate_predictions`: batch scoring.
- `mlflow_loader`: the MLflow python_function loader a package's MLmodel names.
"""

from __future__ import annotations

from automl.engine.predict import (  # noqa: F401  (each registers its predictors)
    _classification,
    _detection,
    _hf_classification,
    _hf_detection,  # imports Transformers only when a model is built
    _yolo,  # imports Ultralytics only when a YOLO predictor is built
)
from automl.engine.predict._base import (
    PREDICTORS,
    OnnxProgram,
    PredictError,
    TaskPredictor,
    register_predictor,
)
from automl.engine.predict._predictor import (
    Predictor,
    load_predictor,
    resolve_device,
    task_predictor_class,
)
from automl.engine.predict.batch import (
    ScoringInput,
    evaluate_predictions,
    read_scoring_inputs,
    score_files,
)
from automl.engine.predict.inputs import InputError, image_from_value, parse_data_item

__all__ = [
    "PREDICTORS",
    "InputError",
    "OnnxProgram",
    "PredictError",
    "Predictor",
    "ScoringInput",
    "TaskPredictor",
    "evaluate_predictions",
    "image_from_value",
    "load_predictor",
    "parse_data_item",
    "read_scoring_inputs",
    "register_predictor",
    "resolve_device",
    "score_files",
    "task_predictor_class",
]
