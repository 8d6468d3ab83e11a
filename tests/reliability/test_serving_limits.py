"""The endpoint and batch scoring against hostile requests: every bound answers with a JSON
error naming the limit and how to raise it, and nothing grows without bound.

Most tests serve a stand-in predictor (no model, no torch): the bounds act before and
around the model. The last ones run the installed `automl` console script on a tiny
untrained package, as a user does.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import httpx
import pytest
from _support.http_server import ServerThread
from PIL import Image

AUTOML = str(Path(sys.executable).with_name("automl"))
JSON = {"Content-Type": "application/json"}


# --- helpers ------------------------------------------------------------------------------


def encoded(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def png(width: int, height: int) -> str:
    return encoded(Image.new("RGB", (width, height), (200, 30, 30)))


def jpeg(width: int, height: int) -> str:
    return encoded(Image.new("RGB", (width, height), (30, 200, 30)), "JPEG")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header declares width x height RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def request(*items: str) -> dict:
    return {"input_data": {"columns": ["image"], "data": list(items)}}


class StandInPredictor:
    """What the endpoint needs of a Predictor. `fit` is its decode_size; with `hold`, each
    predict call waits for `release` (and sets `entered` first)."""

    task = "image_classification"
    labels = ["a", "b"]
    meta = {"model_name": "stand-in"}
    batch_size = 4

    def __init__(self, fit=None, hold: bool = False) -> None:
        self.fit = fit
        self.hold = hold
        self.calls: list[list[tuple[int, int]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def decode_size(self, width: int, height: int):
        return self.fit(width, height) if self.fit else None

    def predict(self, images, batch_size=None):
        self.calls.append([image.size for image in images])
        self.entered.set()
        if self.hold:
            self.release.wait(60)
        return [{"probs": [0.5, 0.5], "labels": list(self.labels)} for _ in images]


def serving(predictor, max_batch_size: int = 4, **limits):
    from automl.engine.serving import ServingLimits, create_app

    app = create_app(
        predictor,
        auth_key=None,
        max_batch_size=max_batch_size,
        limits=ServingLimits.resolve(**limits),
    )
    return ServerThread(app)


def post(server, body, headers=JSON, timeout: float = 60) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server.url}/score", content=content, headers=headers, timeout=timeout)


def assert_limit_error(response: httpx.Response, status: int, limit, flag: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "limit", "hint"}, body
    assert "\n" not in body["error"]
    assert body["limit"] == limit and flag in body["hint"]
    return body


# --- pixels (issue 13, defect 2) -------------------------------------------------------------


def test_png_header_over_the_pixel_limit_is_413_and_never_decoded():
    """The audit's bomb: a tiny PNG declaring 13000x13000 (under Pillow's own bound)."""
    predictor = StandInPredictor()
    bomb = base64.b64encode(png_header_only(13000, 13000)).decode()
    with serving(predictor) as server:
        response = post(server, request(bomb))
    body = assert_limit_error(response, 413, 64_000_000, "--max-image-pixels")
    assert "13000x13000" in body["error"] and "AUTOML_MAX_IMAGE_PIXELS" in body["hint"]
    assert predictor.calls == []


def test_a_jpeg_counts_at_the_reduced_scale_the_model_needs():
    """1000x1000 decodes at 1/8 (125x125) for a model that needs 50x50: within a limit of
    100,000 pixels. The same image as PNG cannot be decoded smaller: refused."""
    predictor = StandInPredictor(fit=lambda width, height: (50, 50))
    with serving(predictor, image_pixels=100_000) as server:
        assert post(server, request(jpeg(1000, 1000))).status_code == 200
        response = post(server, request(png(1000, 1000)))
    assert predictor.calls == [[(125, 125)]]
    assert_limit_error(response, 413, 100_000, "--max-image-pixels")


def test_pixels_per_request_are_bounded():
    predictor = StandInPredictor()
    with serving(predictor, request_pixels=10_000) as server:
        assert post(server, request(png(80, 80))).status_code == 200
        response = post(server, request(png(80, 80), png(80, 80)))
    body = assert_limit_error(response, 413, 10_000, "--max-request-pixels")
    assert "12,800 pixels" in body["error"]
    assert len(predictor.calls) == 1


def test_a_request_past_the_inflight_budget_waits_then_gets_503():
    predictor = StandInPredictor()
    with serving(predictor, inflight_pixels=10_000, request_seconds=1) as server:
        budget = server.server.config.app.state.scorer.budget
        budget.used = 5_000  # as if requests in progress held half of it
        response = post(server, request(png(80, 80)))  # 6,400 more do not fit
        assert_limit_error(response, 503, 10_000, "--max-inflight-pixels")
        assert response.headers["retry-after"] == "1"
        budget.used = 0
        assert post(server, request(png(80, 80))).status_code == 200
        assert budget.used == 0  # given back after the answer
    assert predictor.calls == [[(80, 80)]]


def test_a_request_past_the_inflight_body_budget_waits_then_gets_503():
    predictor = StandInPredictor()
    with serving(predictor, inflight_body_bytes=2 * 1024 * 1024, request_seconds=1) as server:
        bodies = server.server.config.app.state.scorer.bodies
        bodies.used = bodies.capacity - 10  # as if requests in progress held all but 10 bytes
        response = post(server, request(png(8, 8)))
        assert_limit_error(response, 503, 2, "--max-inflight-body-mb")
        bodies.used = 0
        assert post(server, request(png(8, 8))).status_code == 200
        assert bodies.used == 0
    assert predictor.calls == [[(8, 8)]]


def test_budget_waits_for_room_and_gives_up_after_its_timeout():
    from automl.engine.serving._limits import Budget

    async def scenario():
        budget = Budget(100)
        await budget.acquire(80, timeout=1)
        with pytest.raises(TimeoutError):
            await budget.acquire(budget.share(50), timeout=0.05)
        waiter = asyncio.ensure_future(budget.acquire(50, timeout=10))
        await asyncio.sleep(0)
        assert not waiter.done()
        budget.release(80)
        await waiter
        assert budget.used == 50 and budget.share(500) == 100

    asyncio.run(scenario())


def test_batch_scoring_skips_images_over_the_pixel_limit(tmp_path, monkeypatch):
    from automl.engine.predict import ScoringInput, score_files

    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    Image.new("RGB", (20, 20)).save(tmp_path / "small.png")
    monkeypatch.setenv("AUTOML_MAX_IMAGE_PIXELS", "1000")
    predictor = StandInPredictor()
    inputs = [ScoringInput(str(tmp_path / n), n) for n in ("big.png", "small.png")]
    big, small = score_files(predictor, inputs, tmp_path / "preds.jsonl")
    assert "10,000 pixels" in big["error"] and "AUTOML_MAX_IMAGE_PIXELS" in big["error"]
    assert "probs" in small and predictor.calls == [[(20, 20)]]


def test_lazy_image_refuses_before_decoding_and_keeps_its_api(tmp_path):
    from automl.engine.data.images import LazyImage, PixelLimitError, load_image_rgb

    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(13000, 13000))
    with pytest.raises(PixelLimitError, match="13000x13000") as info:
        LazyImage(path).decode(max_pixels=1_000_000)
    assert info.value.limit == 1_000_000 and info.value.pixels == 169_000_000
    Image.new("RGB", (30, 20)).save(tmp_path / "ok.jpg")
    assert load_image_rgb(tmp_path / "ok.jpg").size == (30, 20)


def test_local_images_must_be_regular_files(tmp_path, monkeypatch):
    from automl.engine.data.images import LazyImage
    from automl.engine.errors import AutomlError, LimitError

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def open_fifo() -> None:  # opening a FIFO would block until a writer came
        try:
            LazyImage(fifo)
        except BaseException as exc:
            outcome.append(exc)

    opener = threading.Thread(target=open_fifo, daemon=True)
    opener.start()
    opener.join(30)
    if opener.is_alive():
        with open(fifo, "wb"):  # let the blocked open go (and fail)
            pass
        pytest.fail("opening a FIFO blocked")
    assert isinstance(outcome[0], AutomlError) and "not a regular file" in str(outcome[0])
    Image.new("RGB", (30, 20)).save(tmp_path / "ok.png")
    monkeypatch.setenv("AUTOML_MAX_IMAGE_BYTES", "10")
    with pytest.raises(LimitError, match="AUTOML_MAX_IMAGE_BYTES"):
        LazyImage(tmp_path / "ok.png")


# --- items per request, fairness, disconnects (defect 3) -------------------------------------


def test_items_per_request_are_capped():
    predictor = StandInPredictor()
    with serving(predictor, items=3) as server:
        assert post(server, request(*[png(8, 8)] * 3)).status_code == 200
        response = post(server, request(*[png(8, 8)] * 4))
    body = assert_limit_error(response, 413, 3, "--max-items")
    assert "4 images" in body["error"] and "AUTOML_MAX_REQUEST_ITEMS" in body["hint"]


def tagged(n: int, height: int) -> list[Image.Image]:
    """n images told apart by width; `height` tells requests apart."""
    return [Image.new("RGB", (i + 1, height)) for i in range(n)]


async def started_worker(predictor, max_batch_size: int = 4):
    from automl.engine.serving import BatchingWorker

    worker = BatchingWorker(predictor, max_batch_size)
    await worker.start()
    return worker


def test_a_large_request_does_not_hold_back_a_small_one():
    """Round robin: the 1-image request goes into the batch after the one running, not
    behind the 100 images queued before it."""
    predictor = StandInPredictor(hold=True)

    async def scenario():
        worker = await started_worker(predictor)
        large = asyncio.ensure_future(worker.predict(tagged(100, height=1)))
        await asyncio.to_thread(predictor.entered.wait, 30)
        small = asyncio.ensure_future(worker.predict(tagged(1, height=2)))
        await asyncio.sleep(0.01)
        predictor.release.set()
        await asyncio.gather(large, small)
        await worker.stop()

    asyncio.run(scenario())
    assert all(height == 1 for _, height in predictor.calls[0])
    assert (1, 2) in predictor.calls[1]
    assert sum(len(batch) for batch in predictor.calls) == 101


def test_a_cancelled_request_takes_its_waiting_images_out():
    predictor = StandInPredictor(hold=True)

    async def scenario():
        worker = await started_worker(predictor)
        large = asyncio.ensure_future(worker.predict(tagged(100, height=1)))
        await asyncio.to_thread(predictor.entered.wait, 30)
        large.cancel()
        predictor.release.set()
        await worker.predict(tagged(1, height=2))
        assert not worker.jobs
        await worker.stop()

    asyncio.run(scenario())
    assert [len(batch) for batch in predictor.calls] == [4, 1]  # the running batch, then B


def test_a_disconnected_client_stops_its_work():
    predictor = StandInPredictor(hold=True)
    body = json.dumps(request(*[png(8, 8)] * 20)).encode()
    with serving(predictor, max_batch_size=1) as server:
        worker = server.server.config.app.state.worker
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.sendall(
                b"POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            assert predictor.entered.wait(30)
        deadline = time.monotonic() + 30
        while worker.jobs and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not worker.jobs  # its 19 waiting images were dropped
        predictor.release.set()
        predictor.hold = False
        assert post(server, request(png(8, 8))).status_code == 200
    assert len(predictor.calls) == 2


def test_a_request_past_its_time_limit_is_408():
    predictor = StandInPredictor(hold=True)
    with serving(predictor, request_seconds=1) as server:
        response = post(server, request(png(8, 8)))
        predictor.release.set()
    assert_limit_error(response, 408, 1, "--request-timeout")


def test_requests_past_the_concurrency_limit_get_429():
    predictor = StandInPredictor(hold=True)
    with serving(predictor, concurrent_requests=1) as server:
        first = threading.Thread(target=post, args=(server, request(png(8, 8))))
        first.start()
        assert predictor.entered.wait(30)
        response = post(server, request(png(8, 8)))
        predictor.release.set()
        first.join(30)
    assert_limit_error(response, 429, 1, "--max-concurrent-requests")
    assert response.headers["retry-after"] == "1"


# --- JSON bounds (defect 9) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "limit", "variable"),
    [
        (b'{"input_data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 32, "DEPTH"),
        (
            json.dumps(request(json.dumps({"image_base64": "x", "deep": [[[[[[[[]]]]]]]]})))
            .encode()
            .replace(b"[[[[[[[[]]]]]]]]", b"[" * 50_000 + b"]" * 50_000),
            32,
            "DEPTH",
        ),
        (json.dumps({**request(png(8, 8)), "pad": [0] * 200_000}).encode(), 100_000, "VALUES"),
    ],
    ids=["deep-body", "deep-item", "many-values"],
)
def test_json_too_deep_or_too_large_is_a_one_line_400(body, limit, variable):
    predictor = StandInPredictor()
    with serving(predictor) as server:
        response = post(server, body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["limit"] == limit and f"AUTOML_MAX_REQUEST_JSON_{variable}" in answer["hint"]
    assert "\n" not in answer["error"]
    assert predictor.calls == []


def test_json_depth_skips_brackets_inside_strings():
    from automl.engine.predict.inputs import json_depth

    assert json_depth(b'{"a": [1, {"b": "[[[[\\"["}]}') == 3
    assert json_depth(b"[" * 40 + b"]" * 40) == 40


# --- Content-Type and Host (defect 18) ----------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_score_requires_a_json_content_type(content_type):
    predictor = StandInPredictor()
    headers = {"Content-Type": content_type} if content_type else {}
    with serving(predictor) as server:
        response = post(server, request(png(8, 8)), headers=headers)
        accepted = post(
            server, request(png(8, 8)), {"Content-Type": "application/json; charset=utf-8"}
        )
    assert response.status_code == 415 and "application/json" in response.json()["hint"]
    assert accepted.status_code == 200 and len(predictor.calls) == 1


def test_without_a_key_only_local_host_names_are_answered():
    from automl.engine.serving import create_app, default_allowed_hosts

    predictor = StandInPredictor()
    hosts = default_allowed_hosts("127.0.0.1", ["scoring.internal"])
    with ServerThread(create_app(predictor, auth_key=None, allowed_hosts=hosts)) as server:

        def score(host: str) -> httpx.Response:
            return post(server, request(png(8, 8)), {**JSON, "Host": host})

        refused = score("attacker.example:5001")
        assert refused.status_code == 421 and "--allowed-host" in refused.json()["hint"]
        for host in ("localhost:5001", "127.0.0.1", "[::1]:80", "Scoring.Internal"):
            assert score(host).status_code == 200, host
        health = httpx.get(f"{server.url}/health", headers={"Host": "attacker.example"})
        assert health.status_code == 200
    assert default_allowed_hosts("0.0.0.0") == ["localhost", "127.0.0.1", "::1"]


def test_with_a_key_the_host_is_not_checked():
    from automl.engine.serving import create_app

    predictor = StandInPredictor()
    app = create_app(predictor, auth_key="k", allowed_hosts=["localhost"])
    with ServerThread(app) as server:
        headers = {**JSON, "Authorization": "Bearer k", "Host": "endpoint.azure.example"}
        assert post(server, request(png(8, 8)), headers).status_code == 200


# --- explanations, headers ----------------------------------------------------------------


def xai(**parameters) -> str:
    return json.dumps(
        {"image_base64": png(8, 8), "model_explainability": True, "xai_parameters": parameters}
    )


def test_explanation_parameters_and_counts_are_bounded():
    predictor = StandInPredictor()
    with serving(predictor, xai_steps=100, xai_items=2) as server:
        steps = post(server, request(xai(xai_algorithm="integrated_gradients", n_steps=10**9)))
        items = post(server, request(*[xai()] * 3))
    assert_limit_error(steps, 400, 100, "--max-xai-steps")
    assert_limit_error(items, 413, 2, "--max-xai-items")
    assert predictor.calls == []


def test_oversized_headers_are_refused_and_the_server_lives_on(monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_REQUEST_HEADER_BYTES", "4096")
    predictor = StandInPredictor()
    with serving(predictor) as server:
        assert server.server.config.http == "h11"
        # h11 refuses a head still incomplete past the bound (one read may complete more)
        padded = {**JSON, **{f"X-Pad-{i}": "x" * 1000 for i in range(1000)}}
        try:
            status = post(server, request(png(8, 8)), padded).status_code
        except httpx.TransportError:  # or the connection is closed, or reset
            status = None
        assert status in (400, 431, None)
        assert post(server, request(png(8, 8))).status_code == 200
    assert predictor.calls == [[(8, 8)]]


# --- the console script, as a user runs it ------------------------------------------------


@pytest.fixture(scope="module")
def tiny_package(tmp_path_factory) -> Path:
    """An untrained test_tiny_cnn classification package (nothing trained or downloaded)."""
    from automl.engine.models import build_model
    from automl.engine.models.package import write_model_package

    model = build_model("test_tiny_cnn", 2, pretrained=False, crop_size=40).eval()
    return write_model_package(
        tmp_path_factory.mktemp("package") / "model",
        model,
        task="image_classification",
        model_name="test_tiny_cnn",
        labels=["a", "b"],
        training_parameters={
            "validation_resize_size": 48,
            "validation_crop_size": 40,
            "training_crop_size": 40,
        },
    )


def automl(*args: str, env: dict | None = None, timeout: float = 180):
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [AUTOML, *args], capture_output=True, text=True, env=environment, timeout=timeout
    )


@pytest.mark.slow
def test_model_predict_refuses_fifos_and_oversized_images(tiny_package, tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    result = automl("model", "predict", str(tiny_package), "--input", str(fifo))
    assert result.returncode == 1 and "not a regular file" in result.stderr
    assert "Traceback" not in result.stderr
    Image.new("RGB", (60, 60)).save(tmp_path / "big.png")
    Image.new("RGB", (20, 20)).save(tmp_path / "ok.png")
    listing = tmp_path / "images.jsonl"
    listing.write_text(
        "".join(json.dumps({"image_url": n}) + "\n" for n in ("pipe.jpg", "big.png", "ok.png"))
    )
    output = tmp_path / "preds.jsonl"
    env = {"AUTOML_MAX_IMAGE_PIXELS": "1000"}
    result = automl(
        "model",
        "predict",
        str(tiny_package),
        "-i",
        str(listing),
        "--output-file",
        str(output),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    fifo_line, big_line, ok_line = map(json.loads, output.read_text().splitlines())
    assert "not a regular file" in fifo_line["error"]
    assert "3,600 pixels; the limit is 1,000" in big_line["error"]
    assert "probs" in ok_line


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_model_serve_flags_bound_requests_and_check_the_host(tiny_package):
    port = free_port()
    command = [
        AUTOML, "model", "serve", str(tiny_package), "--auth", "none", "--port", str(port),
        "--max-items", "2", "--allowed-host", "scoring.internal",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        body = json.dumps(request(png(50, 50))).encode()

        def score(host: str, content_type: str = "application/json", n: int = 1):
            payload = json.dumps(request(*[png(50, 50)] * n)).encode() if n > 1 else body
            headers = {"Host": host, "Content-Type": content_type}
            return httpx.post(f"{url}/score", content=payload, headers=headers, timeout=60)

        assert score(f"localhost:{port}").status_code == 200
        assert score("scoring.internal").status_code == 200
        assert score("rebound.attacker.example").status_code == 421
        assert score("localhost", "text/plain").status_code == 415
        assert_limit_error(score("localhost", n=3), 413, 2, "--max-items")
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    assert "Traceback" not in stderr
