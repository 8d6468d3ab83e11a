"""The predictor: the one place a model package becomes predictions (reference §7.2).

Public names:
- `Predictor.from_package(dir, *, device="cpu", settings=None)` and `Predictor.predict(images)`.
- `TASK_PREDICTORS` (a Registry keyed by task) and `TaskPredictor`, their base class.
- `OnnxProgram`: a task's ONNX export recipe (`TaskPredictor.onnx_program`).
- `PredictError`, `InputError`; `image_from_value`, `parse_data_item` for request values.
- `score_files`, `read_scoring_inputs`, `evaluate_predictions`: batch scoring.
"""

from __future__ import annotations

from automl.engine.predict import _classification  # noqa: F401  (registers both tasks)
from automl.engine.predict._base import TASK_PREDICTORS, OnnxProgram, PredictError, TaskPredictor
from automl.engine.predict._predictor import Predictor, resolve_device, task_predictor_class
from automl.engine.predict.batch import (
    ScoringInput,
    evaluate_predictions,
    read_scoring_inputs,
    score_files,
)
from automl.engine.predict.inputs import InputError, image_from_value, parse_data_item

try:  # detection and segmentation predictors, when that part is installed
    from automl.engine.predict import _detection  # noqa: F401
except ImportError as _exc:  # only the module's absence is tolerated, not its bugs
    if getattr(_exc, "name", None) != "automl.engine.predict._detection":
        raise

__all__ = [
    "TASK_PREDICTORS",
    "InputError",
    "OnnxProgram",
    "PredictError",
    "Predictor",
    "ScoringInput",
    "TaskPredictor",
    "evaluate_predictions",
    "image_from_value",
    "parse_data_item",
    "read_scoring_inputs",
    "resolve_device",
    "score_files",
    "task_predictor_class",
]
