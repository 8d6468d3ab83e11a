"""The endpoint's explainability requests (reference §7.3), through the serving app.

Skipped where the serving part (automl.engine.serving, fastapi) is not installed.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("automl.engine.serving")
pytest.importorskip("fastapi.testclient")


def b64_image(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def score_request(*items: str) -> dict:
    return {"input_data": {"columns": ["image"], "data": list(items)}}


def xai_item(image: Image.Image, explain: bool = True, **xai_parameters) -> str:
    return json.dumps(
        {
            "image_base64": b64_image(image),
            "model_explainability": explain,
            "xai_parameters": xai_parameters,
        }
    )


@pytest.fixture
def client_for():
    """client_for(predictor) -> a started TestClient of the endpoint app (no auth)."""
    from fastapi.testclient import TestClient

    from automl.engine.serving import create_app

    clients = []

    def start(predictor):
        client = TestClient(create_app(predictor, auth_key=None))
        clients.append(client.__enter__())
        return clients[-1]

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_multiclass_explainability_true_adds_visualization_and_attributions(
    client_for, multiclass_predictor, flower_image, crop_size
):
    client = client_for(multiclass_predictor)
    item = xai_item(flower_image, xai_algorithm="guided_backprop", attributions=True)
    response = client.post("/score", json=score_request(item))
    assert response.status_code == 200, response.text
    [got] = response.json()
    assert got["labels"] == multiclass_predictor.labels and len(got["probs"]) == len(got["labels"])
    png = Image.open(io.BytesIO(base64.b64decode(got["visualizations"])))
    assert png.size == (2 * crop_size, 2 * crop_size)
    assert np.asarray(got["attributions"]).shape == (3, crop_size, crop_size)


def test_explainability_false_is_plain_scoring(client_for, multiclass_predictor, flower_image):
    client = client_for(multiclass_predictor)
    response = client.post("/score", json=score_request(xai_item(flower_image, explain=False)))
    assert response.status_code == 200, response.text
    [got] = response.json()
    assert set(got) == {"probs", "labels"}


def test_attributions_are_only_returned_when_asked(client_for, multiclass_predictor, flower_image):
    client = client_for(multiclass_predictor)
    item = xai_item(flower_image, xai_algorithm="integrated_gradients", n_steps=3)
    [got] = client.post("/score", json=score_request(item)).json()
    assert isinstance(got["visualizations"], str)
    assert got.get("attributions") is None


def test_multilabel_explainability_returns_lists(client_for, multilabel_predictor, chess_image):
    client = client_for(multilabel_predictor)
    item = xai_item(
        chess_image,
        xai_algorithm="guided_gradcam",
        attributions=True,
        confidence_score_threshold_multilabel=0.0,
    )
    [got] = client.post("/score", json=score_request(item)).json()
    n_labels = len(multilabel_predictor.labels)
    assert isinstance(got["visualizations"], list) and len(got["visualizations"]) == n_labels
    assert len(got["attributions"]) == n_labels


def test_n_steps_below_2_is_a_400_naming_the_rule(client_for, multiclass_predictor, flower_image):
    client = client_for(multiclass_predictor)
    item = xai_item(flower_image, xai_algorithm="integrated_gradients", n_steps=1)
    response = client.post("/score", json=score_request(item))
    assert response.status_code == 400
    assert "n_steps must be an integer of at least 2, got 1" in response.json()["error"]


def test_detection_models_answer_explainability_with_drise_maps(
    client_for, detector_predictor, street_image
):
    predictor = detector_predictor("test_tiny_fasterrcnn")
    client = client_for(predictor)
    item = xai_item(street_image, n_masks=16, mask_res=4, seed=1, attributions=True)
    response = client.post("/score", json=score_request(item))
    assert response.status_code == 200, response.text
    [got] = response.json()
    assert set(got) == {"boxes", "visualizations", "attributions", "explained_boxes"}
    assert len(got["explained_boxes"]) == len(got["boxes"]) > 0
    for explained, box in zip(got["explained_boxes"], got["boxes"], strict=True):
        assert explained["label"] == box["label"]
        assert explained["box"] == pytest.approx(box["box"], abs=1e-6)
    png = Image.open(io.BytesIO(base64.b64decode(got["visualizations"])))
    assert png.width >= street_image.width
    maps = np.asarray(got["attributions"])
    assert maps.shape == (len(got["boxes"]), 48, 64) and maps.std() > 0


def test_detection_attributions_are_opt_in_and_segmentation_is_explained_too(
    client_for, detector_predictor, street_image
):
    client = client_for(detector_predictor("test_tiny_maskrcnn"))
    response = client.post("/score", json=score_request(xai_item(street_image, n_masks=8)))
    assert response.status_code == 200, response.text
    [got] = response.json()
    assert isinstance(got["visualizations"], str) and got["attributions"] is None
    assert all("polygon" in box for box in got["boxes"])


@pytest.mark.parametrize(
    ("xai_parameters", "expected"),
    [
        ({"n_masks": 10001}, "n_masks must be an integer from 1 to 10000, got 10001"),
        ({"xai_algorithm": "xrai"}, "'xrai' does not explain image_object_detection models"),
    ],
)
def test_bad_drise_requests_are_a_400_naming_the_rule(
    client_for, detector_predictor, street_image, xai_parameters, expected
):
    client = client_for(detector_predictor("test_tiny_fasterrcnn"))
    response = client.post("/score", json=score_request(xai_item(street_image, **xai_parameters)))
    assert response.status_code == 400
    assert expected in response.json()["error"]


def test_a_cancelled_request_stops_drise_between_batches(detector_predictor, street_image):
    """A client that left (or a request past its time) stops the masks, not just the next
    image: the explainer thread is free for the next request."""
    import threading

    from automl.engine.serving._request import Cancelled, ScoreItem
    from automl.engine.serving._score import explain_item

    cancelled = threading.Event()
    cancelled.set()
    item = ScoreItem("", "input_data.data[0]", explain={"n_masks": 10000})
    with pytest.raises(Cancelled):
        explain_item(detector_predictor("test_tiny_fasterrcnn"), street_image, item, cancelled)
