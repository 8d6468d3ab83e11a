"""The predictor: the one place a model package becomes predictions (reference §7.2).

Public names:
- `Predictor.from_package(dir, *, device="cpu", settings=None)` and `Predictor.predict(images)`.
- `TASK_PREDICTORS` (a Registry keyed by task) and `TaskPredictor`, their base class.
- `OnnxProgram`: a task's ONNX export recipe (`TaskPredictor.onnx_program`).
- `PredictError`, `InputError`; `image_from_value`, `parse_data_item` for request values.
- `score_files`, `read_scoring_inputs`, `evaluate_predictions`: batch scoring.
"""

from __future__ import annotations

import importlib
import importlib.util

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

# Detection and segmentation predictors register themselves when their module is present;
# only its absence is tolerated, never an error inside it.
if importlib.util.find_spec("automl.engine.predict._detection") is not None:
    importlib.import_module("automl.engine.predict._detection")

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
