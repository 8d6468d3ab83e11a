"""The best model as an MLflow model: the trial's package (outputs/) logged with the
python_function flavor our package's MLmodel already names (automl.engine.predict.
mlflow_loader), an input and output signature, and its requirements.txt, so
`mlflow.pyfunc.load_model("models:/<id>")` (or `runs:/<job run>/model`) scores images.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

logger = logging.getLogger("automl.tracking")

LOADER_MODULE = "automl.engine.predict.mlflow_loader"  # the package MLmodel's loader
MODEL_NAME = "model"


def model_signature(task: str | None):
    """Input: a DataFrame column `image` of base64 text (the endpoint's form); output:
    Azure's columns, `probs` and `labels` for classification, `boxes` for the rest."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema

    inputs = Schema([ColSpec(DataType.string, "image")])
    outputs = OUTPUT_SCHEMAS.get(task or "", _object_outputs)()
    return ModelSignature(inputs=inputs, outputs=outputs)


def _classification_outputs():
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array

    return Schema(
        [ColSpec(Array(DataType.double), "probs"), ColSpec(Array(DataType.string), "labels")]
    )


def _object_outputs():
    """`boxes`: a list of {box: {topX, topY, bottomX, bottomY}, label, score}."""
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array, Object, Property

    corners = [Property(name, DataType.double) for name in ("topX", "topY", "bottomX", "bottomY")]
    box = Object(
        [
            Property("box", Object(corners)),
            Property("label", DataType.string),
            Property("score", DataType.double),
        ]
    )
    return Schema([ColSpec(Array(box), "boxes")])


# task -> its output schema; any other task (detection, segmentation, plug-ins) has boxes
OUTPUT_SCHEMAS = {
    "image_classification": _classification_outputs,
    "image_classification_multilabel": _classification_outputs,
}


def log_best_model(tracker, trial_dir: Path, task: str | None) -> None:
    """Log `trial_dir/outputs` as the job run's model `model` (raises on failure: the
    caller's guard warns)."""
    package = Path(trial_dir) / "outputs"
    if not (package / "model.pt").is_file():
        logger.warning("MLflow: the best trial has no model package in %s", package)
        return
    mlflow = tracker.mlflow
    mlflow.set_tracking_uri(tracker.uri)
    requirements = package / "requirements.txt"
    with mlflow.start_run(run_id=tracker.run_id), warnings.catch_warnings():
        # "an input example was not provided": the signature says the form; an example
        # would load and run the model (torch) in the controller
        warnings.simplefilter("ignore", UserWarning)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            loader_module=LOADER_MODULE,
            data_path=str(package),
            signature=model_signature(task),
            pip_requirements=str(requirements) if requirements.is_file() else None,
        )
    logger.info("MLflow: best model logged as %s", info.model_uri)
