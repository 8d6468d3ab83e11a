"""The online endpoint over real HTTP on 127.0.0.1: format, auth, errors, batching, XAI."""

from __future__ import annotations

import base64
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from _support.http_server import ServerThread
from _support.paths import REPO_ROOT
from PIL import Image

AUTH = {"Authorization": "Bearer secret-key"}
DAISY = REPO_ROOT / "examples" / "data" / "flowers5" / "valid" / "images" / "daisy"


def image_files(n: int):
    files = sorted(DAISY.glob("*.jpg"))
    return [files[i % len(files)] for i in range(n)]


def b64(path) -> str:
    return base64.encodebytes(path.read_bytes()).decode()


def request(*items) -> dict:
    return {"input_data": {"columns": ["image"], "data": list(items)}}


def expected(predictor, files):
    """The in-process predictor on the files, decoded as the endpoint decodes requests (a
    JPEG no larger than the model input needs)."""
    from automl.engine.predict.inputs import open_image_bytes

    fit = predictor.decode_size
    return predictor.predict([open_image_bytes(f.read_bytes(), fit=fit) for f in files])


def test_reduced_decoding_predicts_as_the_full_decode(classification_predictor):
    """Decoding at 1/2-1/8 scale before the validation resize changes the probabilities
    by a rounding's worth, never the answer."""
    from automl.engine.data.images import load_image_rgb

    files = image_files(10)
    full = classification_predictor.predict([load_image_rgb(f) for f in files])
    reduced = expected(classification_predictor, files)
    for a, b in zip(full, reduced, strict=True):
        assert max(abs(x - y) for x, y in zip(a["probs"], b["probs"], strict=True)) < 0.02


def test_score_answers_azure_responses(endpoint, classification_predictor):
    files = image_files(3)
    response = httpx.post(f"{endpoint.url}/score", json=request(*map(b64, files)), headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    want = expected(classification_predictor, files)
    assert len(body) == 3
    for got, ref in zip(body, want, strict=True):
        assert got["labels"] == ref["labels"]
        assert got["probs"] == pytest.approx(ref["probs"], abs=1e-5)


def test_health_and_docs_need_no_key(endpoint):
    health = httpx.get(f"{endpoint.url}/health")
    assert health.status_code == 200 and health.json()["ready"] is True
    assert health.json()["task"] == "image_classification"
    assert httpx.get(f"{endpoint.url}/docs").status_code == 200
    schema = httpx.get(f"{endpoint.url}/openapi.json").json()
    assert "/score" in schema["paths"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "secret-key"},
        {"Authorization": "bearer  secret-key-but-longer"},
        {"Authorization": b"Bearer caf\xc3\xa9"},  # not ASCII: still a 401, not a 500
    ],
)
def test_score_without_the_key_is_401(endpoint, headers):
    response = httpx.post(
        f"{endpoint.url}/score", json=request(b64(image_files(1)[0])), headers=headers
    )
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (request("@@@ not base64 @@@"), "not valid base64"),
        (request(base64.b64encode(b"plain text").decode()), "not an image"),
        ({"input_data": {"columns": ["img"], "data": ["x"]}}, "columns must be exactly"),
        ({"data": []}, "needs an 'input_data' object"),
        (request(), "non-empty list"),
        (request('{"image": "x"}'), "image_base64"),
        (
            request(
                json.dumps(
                    {
                        "image_base64": "x",
                        "model_explainability": True,
                        "xai_parameters": {"colour": 1},
                    }
                )
            ),
            "unknown xai_parameters",
        ),
    ],
)
def test_malformed_requests_are_400_with_a_message(endpoint, body, message):
    response = httpx.post(f"{endpoint.url}/score", json=body, headers=AUTH)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_not_json_and_too_large_bodies(endpoint):
    headers = {**AUTH, "Content-Type": "application/json"}
    response = httpx.post(f"{endpoint.url}/score", content=b"{nope", headers=headers)
    assert response.status_code == 400 and "not JSON" in response.json()["error"]
    big = json.dumps(request("A" * (3 * 1024 * 1024))).encode()
    response = httpx.post(f"{endpoint.url}/score", content=big, headers=headers)
    assert response.status_code == 413 and "limit" in response.json()["error"]
    assert response.json()["limit"] == 2 and "--max-body-mb" in response.json()["hint"]


def test_fifty_concurrent_requests_are_batched_and_match_batch_predict(
    endpoint, classification_predictor
):
    files = image_files(50)
    worker = endpoint.server.config.app.state.worker
    batches_before = worker.n_batches

    def send(path):
        with httpx.Client(timeout=60) as client:
            return client.post(f"{endpoint.url}/score", json=request(b64(path)), headers=AUTH)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(send, files))
    assert [r.status_code for r in responses] == [200] * 50
    want = expected(classification_predictor, files)
    for response, ref in zip(responses, want, strict=True):
        (got,) = response.json()
        assert got["probs"] == pytest.approx(ref["probs"], abs=1e-5)
    assert worker.n_batches - batches_before < 50  # some requests shared a forward pass


def test_multilabel_endpoint_without_auth(multilabel_run):
    from automl.engine.predict import Predictor
    from automl.engine.serving import create_app

    predictor = Predictor.from_package(multilabel_run / "best_model")
    with ServerThread(create_app(predictor, auth_key=None)) as server:
        response = httpx.post(f"{server.url}/score", json=request(b64(image_files(1)[0])))
    assert response.status_code == 200
    (got,) = response.json()
    assert got["labels"] == predictor.labels
    assert got["probs"] == pytest.approx(expected(predictor, image_files(1))[0]["probs"], abs=1e-5)


def xai_item(path, **parameters) -> str:
    return json.dumps(
        {"image_base64": b64(path), "model_explainability": True, "xai_parameters": parameters}
    )


def test_explainability_items(endpoint):
    pytest.importorskip("automl.engine.explain")
    item = xai_item(image_files(1)[0], xai_algorithm="guided_backprop", attributions=True)
    response = httpx.post(f"{endpoint.url}/score", json=request(item), headers=AUTH, timeout=120)
    assert response.status_code == 200, response.text
    (got,) = response.json()
    assert {"probs", "labels", "visualizations", "attributions"} <= set(got)
    bad = xai_item(image_files(1)[0], xai_algorithm="integrated_gradients", n_steps=1)
    response = httpx.post(f"{endpoint.url}/score", json=request(bad), headers=AUTH)
    assert response.status_code == 400 and "n_steps" in response.json()["error"]


def test_explainability_without_the_explain_module_is_501(endpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "automl.engine.explain", None)  # import fails
    response = httpx.post(
        f"{endpoint.url}/score", json=request(xai_item(image_files(1)[0])), headers=AUTH
    )
    assert response.status_code == 501 and "not available" in response.json()["error"]


def test_request_parser_accepts_mlflow_rows():
    from automl.engine.serving import parse_score_request

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    value = base64.b64encode(buffer.getvalue()).decode()
    items = parse_score_request(json.dumps(request([value], value)).encode())
    assert [item.value for item in items] == [value, value]
