"""ONNX export: Azure's names, batch shapes, normalisation, parity with PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

onnxruntime = pytest.importorskip("onnxruntime")

from automl.engine.export import ExportError, export_onnx, sample_images  # noqa: E402
from automl.engine.predict import Predictor  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def run_onnx(path, batch):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session, session.run(None, {"input1": batch})[0]


@pytest.mark.parametrize("run_fixture", ["classification_run", "multilabel_run"])
def test_classification_export_has_azure_io_and_parity(run_fixture, request, tmp_path):
    run = request.getfixturevalue(run_fixture)
    predictor = Predictor.from_package(run / "best_model")
    result = export_onnx(predictor, tmp_path / "model.onnx", batch_size=2)
    assert result.input_names == ["input1"] and result.output_names == ["output1"]
    assert result.max_abs_diff < 1e-4 and all(check["ok"] for check in result.checks)
    images = sample_images(2, seed=5)
    batch = predictor.preprocess(images).numpy()
    session, logits = run_onnx(result.path, batch)
    assert [i.shape for i in session.get_inputs()] == [[2, 3, 40, 40]]
    probs = predictor.task_predictor.probabilities(torch.from_numpy(logits))
    want = predictor.predict(images)
    for row, ref in zip(probs.tolist(), want, strict=True):
        assert row == pytest.approx(ref["probs"], abs=1e-5)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"]) == predictor.labels and meta["task"] == predictor.task


def test_dynamic_batch_and_baked_normalisation(classification_run, tmp_path):
    predictor = Predictor.from_package(classification_run / "best_model")
    result = export_onnx(predictor, tmp_path / "dyn.onnx", dynamic_batch=True, normalization=True)
    assert [check["batch"] for check in result.checks] == [1, 3]
    images = sample_images(4, seed=3)
    normalised = predictor.preprocess(images)
    pixels = predictor.task_predictor.onnx_inputs(images, normalization=True).numpy()
    assert pixels.max() > 2.0  # raw 0-255 pixels go in
    _, logits = run_onnx(result.path, pixels)
    with torch.inference_mode():
        want = predictor.model(normalised).numpy()
    assert np.abs(logits - want).max() < 1e-3


def test_enable_onnx_normalization_is_the_default(classification_run, tmp_path, monkeypatch):
    predictor = Predictor.from_package(classification_run / "best_model")
    predictor.meta["training_parameters"]["enable_onnx_normalization"] = True
    assert export_onnx(predictor, tmp_path / "n.onnx").normalization is True
    predictor.meta["training_parameters"]["enable_onnx_normalization"] = False
    assert export_onnx(predictor, tmp_path / "p.onnx").normalization is False


def test_bad_requests_are_refused(classification_run, tmp_path):
    predictor = Predictor.from_package(classification_run / "best_model")
    with pytest.raises(ExportError, match="too old"):
        export_onnx(predictor, tmp_path / "m.onnx", opset=9)
    with pytest.raises(ExportError, match="at least 1"):
        export_onnx(predictor, tmp_path / "m.onnx", batch_size=0)


def test_parity_failure_fails_the_export(classification_run, tmp_path, monkeypatch):
    """A graph that disagrees with PyTorch is reported with its difference and removed."""
    from automl.engine.export import _onnx

    predictor = Predictor.from_package(classification_run / "best_model")
    real_compare = _onnx._compare

    def skewed(expected, actual, atol, size):
        return real_compare([e + 0.5 for e in expected], actual, atol, size)

    monkeypatch.setattr(_onnx, "_compare", skewed)
    with pytest.raises(ExportError, match="largest difference 0.5"):
        export_onnx(predictor, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_task_without_an_export_recipe_is_refused_by_name(classification_run, tmp_path):
    """Tasks export through their predictor's onnx_program(); the base class refuses."""
    from automl.engine.predict import PredictError, TaskPredictor

    predictor = Predictor.from_package(classification_run / "best_model")

    class NoExport(TaskPredictor):
        def preprocess(self, images):
            return predictor.preprocess(images)

        def predict_batch(self, images):
            return []

    meta = {**predictor.meta, "task": "image_object_detection", "model_name": "yolo11"}
    predictor.task_predictor = NoExport(predictor.model, meta, predictor.settings, predictor.device)
    with pytest.raises(PredictError, match="'image_object_detection' .*has no ONNX export"):
        export_onnx(predictor, tmp_path / "m.onnx")
