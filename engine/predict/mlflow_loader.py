"""MLflow `python_function` loader for our model packages (the `MLmodel` points here).

With MLflow installed, `mlflow.pyfunc.load_model("outputs/")` calls `_load_pyfunc`, and
`predict(df)` takes a DataFrame with an `image` column (base64 text, raw bytes, or the
JSON-string form with `image_base64`) and returns one row per image with Azure's columns
(`probs`, `labels` for classification; `boxes` for detection and segmentation), computed
by `automl.engine.predict.Predictor`, the same code as batch scoring and the endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path


class PyfuncModel:
    """A loaded model package that scores images given as bytes or base64 text."""

    def __init__(self, model_dir: str | os.PathLike) -> None:
        from automl.engine.predict import Predictor

        self.predictor = Predictor.from_package(model_dir)

    def predict_images(self, images: list) -> list[dict]:
        """`images`: RGB PIL images -> Azure response objects."""
        return self.predictor.predict(images)

    def predict(self, model_input, params: dict | None = None):
        """MLflow entry point: DataFrame with column `image` -> DataFrame of responses."""
        import pandas as pd

        from automl.engine.predict import image_from_value, parse_data_item

        images = []
        for i, value in enumerate(model_input["image"]):
            data, _ = parse_data_item(value, f"image[{i}]")
            images.append(image_from_value(data, f"image[{i}]"))
        return pd.DataFrame(self.predict_images(images))


# The name earlier packages' users may have imported.
ClassificationPyfuncModel = PyfuncModel


def _load_pyfunc(data_path: str) -> PyfuncModel:
    """Called by mlflow.pyfunc.load_model with the package folder (`data: .`)."""
    return PyfuncModel(Path(data_path))
