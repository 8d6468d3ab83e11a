"""`automl.load_model(ref).predict(images)`: every kind of image, one or many, typed results
whose `to_azure()` is what `automl model predict` writes (one formatter, one path)."""

from __future__ import annotations

import io
import json
import subprocess

import numpy as np
import pytest
from _support.image_server import ImageServer
from _support.paths import AUTOML, BUNDLED_DATA_DIR
from PIL import Image

import automl
from automl.engine.predict import InputError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def model(classification_run):
    return automl.load_model(classification_run / "best_model")


@pytest.fixture(scope="module")
def image_path():
    return sorted((BUNDLED_DATA_DIR / "flowers5" / "valid").rglob("*.jpg"))[0]


def _rgb(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_one_path_gives_one_typed_result(model, image_path):
    result = model.predict(str(image_path))
    assert isinstance(result, automl.ClassificationResult)
    assert set(result.probabilities) == set(model.labels)
    assert result.label == max(result.probabilities, key=result.probabilities.get)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.to_azure() == {
        "probs": [result.probabilities[label] for label in model.labels],
        "labels": model.labels,
    }


def test_every_input_kind_gives_the_same_answer(model, image_path):
    pixels = _rgb(image_path)
    inputs = [
        image_path,  # os.PathLike
        str(image_path),
        image_path.read_bytes(),
        Image.fromarray(pixels),
        pixels,  # HWC uint8
        pixels.astype(np.float32) / 255.0,  # HWC float in [0, 1]
    ]
    results = model.predict(inputs, batch_size=4)
    assert isinstance(results, list) and len(results) == len(inputs)
    decoded = results[3].probabilities  # the same pixels as the arrays
    for result in results:
        assert result.label == results[0].label
        for label, probability in result.probabilities.items():
            assert probability == pytest.approx(decoded[label], abs=2e-3)


def test_urls_are_fetched_through_the_bounded_reader(model, image_path):
    with ImageServer(image_path.parent) as server:
        url = f"{server.base_url}/{image_path.name}"
        result = model.predict(url)
        assert server.gets  # fetched over HTTP
    assert result.to_azure() == model.predict(image_path).to_azure()


def test_grayscale_and_rgba_arrays(model):
    gray = np.full((40, 40), 128, dtype=np.uint8)
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    results = model.predict([gray, gray[:, :, None], rgba])
    assert all(isinstance(r, automl.ClassificationResult) for r in results)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((4, 4, 5), dtype=np.uint8), "is not an image"),
        (np.full((8, 8, 3), 2.0, dtype=np.float32), r"must lie in \[0, 1\]"),
        (np.zeros((8, 8, 3), dtype=np.int64), "int64 is not an image"),
        (b"not an image", "not an image Pillow can read"),
        (42, "expected a path, URL, bytes, PIL image or numpy array"),
    ],
    ids=["channels", "float-range", "dtype", "bytes", "type"],
)
def test_bad_inputs_are_user_errors(model, value, message):
    with pytest.raises(InputError, match=message):
        model.predict([value])


def test_a_missing_path_is_a_user_error(model, tmp_path):
    with pytest.raises(automl.AutomlError, match="missing.jpg"):
        model.predict(tmp_path / "missing.jpg")


@pytest.mark.slow
def test_to_azure_is_what_model_predict_writes(model, classification_run, image_path, tmp_path):
    """The CLI and the API load the model and format predictions the same way."""
    output = tmp_path / "preds.jsonl"
    command = [AUTOML, "model", "predict", classification_run / "best_model"]
    command += ["-i", image_path, "--output-file", output]
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    line = json.loads(output.read_text().splitlines()[0])
    line.pop("filename")
    expected = model.predict(image_path).to_azure()
    assert line["labels"] == expected["labels"]
    assert line["probs"] == pytest.approx(expected["probs"], abs=1e-6)


def test_load_model_takes_a_job_name_as_the_cli_does(classification_run, monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "my-job").symlink_to(classification_run, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    loaded = automl.load_model("my-job")
    assert loaded.task == "image_classification"
    assert loaded.model_dir.resolve() == (classification_run / "best_model").resolve()


def test_an_unknown_reference_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(automl.AutomlError):
        automl.load_model("no-such-model")


def test_multilabel_results(multilabel_run):
    model = automl.load_model(multilabel_run / "best_model")
    image = sorted((BUNDLED_DATA_DIR / "chess_multilabel").rglob("*.jpg"))[0]
    result = model.predict(image)
    assert result.multilabel
    assert result.labels_over(0.0) == sorted(
        result.probabilities, key=lambda label: -result.probabilities[label]
    )


def test_detection_results_read_the_endpoint_objects():
    from automl._results import result_from_azure

    response = {
        "boxes": [
            {
                "box": {"topX": 0.1, "topY": 0.2, "bottomX": 0.5, "bottomY": 0.6},
                "label": "raccoon",
                "score": 0.9,
                "polygon": [[0.1, 0.2, 0.5, 0.2, 0.5, 0.6]],
            }
        ]
    }
    result = result_from_azure(response)
    assert isinstance(result, automl.DetectionResult)
    assert result.boxes == [
        automl.Box("raccoon", 0.9, (0.1, 0.2, 0.5, 0.6), [[0.1, 0.2, 0.5, 0.2, 0.5, 0.6]])
    ]
    assert result.masks == [[[0.1, 0.2, 0.5, 0.2, 0.5, 0.6]]]
    assert result.to_azure() == response
    assert result_from_azure({"boxes": []}).masks is None


def test_bytes_from_a_buffer(model, image_path):
    buffer = io.BytesIO(image_path.read_bytes())
    assert model.predict(buffer.getvalue()).label == model.predict(image_path).label
