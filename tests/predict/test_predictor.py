"""Predictor and batch scoring on the session's trained tiny classifiers."""

from __future__ import annotations

import base64
import io
import json

import pytest
from _support.paths import REPO_ROOT
from PIL import Image

from automl.engine.errors import AutomlError
from automl.engine.predict import (
    PREDICTORS,
    InputError,
    PredictError,
    Predictor,
    evaluate_predictions,
    image_from_value,
    parse_data_item,
    read_scoring_inputs,
    score_files,
)

FLOWERS_VALID = "examples/data/flowers5/valid"


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


def flower_images(n=5):
    folder = REPO_ROOT / FLOWERS_VALID / "images" / "daisy"
    return [Image.open(p).convert("RGB") for p in sorted(folder.glob("*.jpg"))[:n]]


def test_multiclass_predictions_follow_azure_format(classification_run):
    predictor = Predictor.from_package(classification_run / "best_model")
    labels = json.loads((classification_run / "best_model" / "labels.json").read_text())
    assert predictor.task == "image_classification" and predictor.labels == labels
    results = predictor.predict(flower_images(3))
    assert len(results) == 3
    for result in results:
        assert set(result) == {"probs", "labels"} and result["labels"] == labels
        assert sum(result["probs"]) == pytest.approx(1.0, abs=1e-5)


def test_batch_size_does_not_change_predictions(classification_run):
    predictor = Predictor.from_package(classification_run / "best_model")
    images = flower_images(5)
    one = predictor.predict(images, batch_size=1)
    five = predictor.predict(images, batch_size=5)
    for a, b in zip(one, five, strict=True):
        assert a["probs"] == pytest.approx(b["probs"], abs=1e-5)


def test_multilabel_scores_are_independent_sigmoids(multilabel_run):
    predictor = Predictor.from_package(multilabel_run / "best_model")
    (result,) = predictor.predict(flower_images(1))
    assert all(0.0 <= p <= 1.0 for p in result["probs"])
    assert len(result["probs"]) == len(predictor.labels) > 1


def test_settings_override_changes_preprocessing(classification_run):
    default = Predictor.from_package(classification_run / "best_model")
    bigger = Predictor.from_package(
        classification_run / "best_model", settings={"valid_resize_size": 64, "valid_crop_size": 56}
    )
    assert tuple(default.preprocess(flower_images(1)).shape) == (1, 3, 40, 40)
    assert tuple(bigger.preprocess(flower_images(1)).shape) == (1, 3, 56, 56)
    assert bigger.settings["valid_crop_size"] == 56


def test_batch_scoring_reproduces_the_validation_metric(classification_run, tmp_path):
    predictor = Predictor.from_package(classification_run / "best_model")
    inputs = read_scoring_inputs(str(REPO_ROOT / FLOWERS_VALID), predictor.task)
    assert len(inputs) == 50 and all(item.has_label for item in inputs)
    progress = []
    lines = score_files(
        predictor,
        inputs,
        tmp_path / "preds.jsonl",
        batch_size=16,
        on_progress=lambda done, total: progress.append(done),
    )
    written = [json.loads(line) for line in (tmp_path / "preds.jsonl").read_text().splitlines()]
    assert written == lines and progress == [16, 32, 48, 50]
    assert written[0]["filename"].startswith("images/")
    metrics = evaluate_predictions(predictor, inputs, lines)
    summary = json.loads((classification_run / "summary.json").read_text())
    assert metrics["accuracy"] == pytest.approx(summary["best_trial"]["score"], abs=1e-6)


def test_folder_and_glob_inputs(tmp_path):
    for i in range(3):
        Image.new("RGB", (20, 10)).save(tmp_path / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    by_folder = read_scoring_inputs(str(tmp_path), "image_classification")
    by_glob = read_scoring_inputs(str(tmp_path / "*.png"), "image_classification")
    assert [i.filename for i in by_folder] == ["img0.png", "img1.png", "img2.png"]
    assert len(by_glob) == 3 and not by_glob[0].has_label
    with pytest.raises(PredictError, match="no MLTable"):
        read_scoring_inputs(str(tmp_path / "*.gif"), "image_classification")


def test_unreadable_image_gets_an_error_line(classification_run, tmp_path):
    Image.new("RGB", (30, 30), "red").save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"definitely not a png")
    predictor = Predictor.from_package(classification_run / "best_model")
    inputs = read_scoring_inputs(str(tmp_path), predictor.task)
    lines = score_files(predictor, inputs, tmp_path / "out.jsonl")
    assert "error" in lines[0] and lines[0]["filename"] == "bad.png"
    assert "probs" in lines[1]
    with pytest.raises(PredictError, match="needs a label"):
        evaluate_predictions(predictor, inputs, lines)


def test_request_values_decode_or_fail_clearly():
    buffer = io.BytesIO()
    Image.new("L", (8, 6)).save(buffer, format="PNG")
    encoded = base64.encodebytes(buffer.getvalue()).decode()  # with newlines, as Azure's
    assert image_from_value(encoded).mode == "RGB"
    with pytest.raises(InputError, match="not valid base64"):
        image_from_value("@@not base64@@")
    with pytest.raises(InputError, match="not an image"):
        image_from_value(base64.b64encode(b"hello").decode())
    value, options = parse_data_item(
        json.dumps({"image_base64": "abc", "model_explainability": True})
    )
    assert value == "abc" and options["model_explainability"] is True
    with pytest.raises(InputError, match="image_base64"):
        parse_data_item('{"image": "abc"}')


def test_a_package_of_an_unknown_task_is_refused(classification_run, tmp_path):
    import shutil

    import torch

    folder = tmp_path / "pkg"
    shutil.copytree(classification_run / "best_model", folder)
    record = torch.load(folder / "model.pt", weights_only=True)
    record["task"] = "image_captioning"
    torch.save(record, folder / "model.pt")
    with pytest.raises(AutomlError):
        Predictor.from_package(folder)


@pytest.mark.parametrize("kind", ["detection", "segmentation"])
@pytest.mark.parametrize("runtime", ["torch", "ultralytics"])
def test_detection_predictors_follow_the_contract(kind, runtime):
    predictor_class = PREDICTORS.get(f"{kind}/{runtime}")
    for method in ("preprocess", "predict_batch"):
        assert callable(getattr(predictor_class, method))


def test_pyfunc_loader_goes_through_the_predictor(classification_run):
    pd = pytest.importorskip("pandas")
    from automl.engine.predict.mlflow_loader import _load_pyfunc

    files = sorted((REPO_ROOT / FLOWERS_VALID / "images" / "daisy").glob("*.jpg"))[:2]
    encoded = [base64.b64encode(f.read_bytes()).decode() for f in files]
    frame = pd.DataFrame({"image": [encoded[0], json.dumps({"image_base64": encoded[1]})]})
    result = _load_pyfunc(str(classification_run / "best_model")).predict(frame)
    want = Predictor.from_package(classification_run / "best_model").predict(flower_images(2))
    assert list(result.columns) == ["probs", "labels"]
    for got, ref in zip(result["probs"], want, strict=True):
        assert got == pytest.approx(ref["probs"], abs=1e-5)


def test_mlflow_loads_the_package_as_python_function(classification_run):
    mlflow = pytest.importorskip("mlflow")
    pd = pytest.importorskip("pandas")

    model = mlflow.pyfunc.load_model(str(classification_run / "best_model"))
    files = sorted((REPO_ROOT / FLOWERS_VALID / "images" / "daisy").glob("*.jpg"))[:1]
    frame = pd.DataFrame({"image": [base64.b64encode(files[0].read_bytes()).decode()]})
    result = model.predict(frame)
    assert len(result) == 1 and len(result["probs"][0]) == 5
