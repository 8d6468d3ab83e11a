"""The model package: files, weights_only loading, MLflow loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from automl.engine.errors import AutomlError
from automl.engine.models import build_model, load_model_package, write_model_package
from automl.engine.predict.mlflow_loader import _load_pyfunc

PARAMS = {"validation_resize_size": 40, "validation_crop_size": 32, "training_crop_size": 32}


@pytest.fixture
def package(tmp_path):
    torch.manual_seed(0)
    model = build_model("test_tiny_cnn", 3, pretrained=False).eval()
    out = write_model_package(
        tmp_path / "outputs",
        model,
        task="image_classification",
        model_name="test_tiny_cnn",
        labels=["a", "b", "c"],
        training_parameters=PARAMS,
    )
    return model, out


def test_package_files_and_loading(package):
    model, out = package
    assert {p.name for p in out.iterdir()} == {
        "model.pt",
        "settings.json",
        "labels.json",
        "MLmodel",
        "requirements.txt",
    }
    record = torch.load(out / "model.pt", weights_only=True)
    assert record["format_version"] == 1 and record["labels"] == ["a", "b", "c"]
    settings = json.loads((out / "settings.json").read_text())
    assert settings["valid_resize_size"] == 40 and settings["valid_crop_size"] == 32
    assert "automl.engine.predict.mlflow_loader" in (out / "MLmodel").read_text()
    assert "torch==" in (out / "requirements.txt").read_text()
    loaded, meta = load_model_package(out)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(loaded(x), model(x))
    assert meta["model_name"] == "test_tiny_cnn" and meta["task"] == "image_classification"


def test_edited_settings_json_wins(package):
    _, out = package
    settings = json.loads((out / "settings.json").read_text())
    settings["valid_resize_size"] = 48
    (out / "settings.json").write_text(json.dumps(settings))
    assert load_model_package(out)[1]["settings"]["valid_resize_size"] == 48


def test_mlflow_loader_scores_images(package):
    _, out = package
    pyfunc = _load_pyfunc(str(out))
    image = Image.fromarray(np.full((50, 60, 3), 120, dtype=np.uint8))
    (row,) = pyfunc.predict_images([image])
    assert row["labels"] == ["a", "b", "c"]
    assert sum(row["probs"]) == pytest.approx(1.0, abs=1e-5)


def test_missing_model_file_is_a_user_error(tmp_path):
    with pytest.raises(AutomlError, match="no model file"):
        load_model_package(tmp_path)
