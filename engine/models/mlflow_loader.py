"""MLflow `python_function` loader for our model packages (the `MLmodel` points here).

With MLflow installed, `mlflow.pyfunc.load_model("outputs/")` calls `_load_pyfunc`, and
`predict(df)` takes a DataFrame with an `image` column (base64 text or raw bytes) and
returns one row per image with `probs` and `labels`, as Azure's models do (§7.2).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from pathlib import Path

from automl.engine.errors import AutomlError


class ClassificationPyfuncModel:
    """A loaded classification package that scores images given as bytes or base64."""

    def __init__(self, model_dir: str | os.PathLike) -> None:
        from automl.engine.models.package import load_model_package
        from automl.engine.tasks.classification import build_valid_transform

        self.model, self.meta = load_model_package(model_dir)
        settings = self.meta["settings"]
        self.transform = build_valid_transform(
            settings["valid_resize_size"],
            settings["valid_crop_size"],
            tuple(settings["mean"]),
            tuple(settings["std"]),
        )
        self.multilabel = bool(settings.get("multilabel"))

    def predict_images(self, images: list) -> list[dict]:
        """`images`: PIL images; returns [{"probs": [...], "labels": [...]}] per image."""
        import torch

        batch = torch.stack([self.transform(image) for image in images])
        with torch.inference_mode():
            logits = self.model(batch)
        probs = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)
        labels = list(self.meta["labels"])
        return [{"probs": row.tolist(), "labels": labels} for row in probs]

    def predict(self, model_input, params: dict | None = None):
        """MLflow entry point: DataFrame with column `image` -> DataFrame(probs, labels)."""
        import pandas as pd

        from automl.engine.data.images import to_rgb

        images = [to_rgb(open_image(value)) for value in model_input["image"]]
        return pd.DataFrame(self.predict_images(images))


def open_image(value):
    from PIL import Image

    data = value if isinstance(value, bytes | bytearray) else decode_base64(value)
    return Image.open(io.BytesIO(data))


def decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError) as exc:
        raise AutomlError(
            "column 'image': a value is neither bytes nor valid base64 text",
            hint="send base64.b64encode(image_bytes).decode() per image",
        ) from exc


def _load_pyfunc(data_path: str) -> ClassificationPyfuncModel:
    """Called by mlflow.pyfunc.load_model with the package folder (`data: .`)."""
    return ClassificationPyfuncModel(Path(data_path))
