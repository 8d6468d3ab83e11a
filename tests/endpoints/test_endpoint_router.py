"""The router over real HTTP with stand-in workers (no model): routing by weights and by
the azureml-model-deployment header, keys, mirroring, 404/408/413/429, a dead worker."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from _support.http_server import ServerThread
from endpoint_fakes import FakeWorker, group

from automl.engine.endpoints._router import EndpointRouter, RouteTable  # noqa: E402

KEYS = (b"primary-key", b"secondary-key")
AUTH = {"Authorization": "Bearer primary-key"}


@pytest.fixture
def workers(tmp_path):
    folder = Path(tmp_path)
    with (
        FakeWorker("blue0", folder / "b0.sock") as blue0,
        FakeWorker("blue1", folder / "b1.sock") as blue1,
        FakeWorker("green0", folder / "g0.sock") as green0,
    ):
        yield {"blue0": blue0, "blue1": blue1, "green0": green0}


@pytest.fixture
def serve(workers):
    """Start a router over `traffic` (and `mirror`); yields a function -> (url, router)."""
    servers = []

    def start(traffic, mirror=None, timeout_ms=5000, per_instance=4, limits=None):
        router = EndpointRouter("ep1", limits=limits)
        groups = {
            "blue": group("blue", [workers["blue0"].socket, workers["blue1"].socket],
                          timeout_ms, per_instance),
            "green": group("green", [workers["green0"].socket], timeout_ms, per_instance),
        }  # fmt: skip
        router.publish(RouteTable(1, KEYS, traffic, mirror or {}, groups))
        server = ServerThread(router).__enter__()
        servers.append(server)
        return server.url, router

    yield start
    for server in servers:
        server.__exit__(None, None, None)


CLIENT = httpx.Client(timeout=30)  # one client: making one costs about 0.1 s


def score(url, body=None, headers=None, key=AUTH):
    return CLIENT.post(f"{url}/score", json=body or {}, headers={**key, **(headers or {})})


def answered_by(url, n, headers=None) -> list[str]:
    return [score(url, headers=headers).headers["azureml-model-deployment"] for _ in range(n)]


def test_weights_route_and_the_answer_names_its_deployment(serve):
    url, _ = serve({"blue": 100, "green": 0})
    assert set(answered_by(url, 10)) == {"blue"}
    response = score(url)
    assert response.status_code == 200 and response.json()["worker"] in ("blue0", "blue1")
    url, _ = serve({"blue": 0, "green": 100})
    assert set(answered_by(url, 10)) == {"green"}


def test_the_header_reaches_a_deployment_without_traffic(serve):
    url, _ = serve({"blue": 100, "green": 0})
    assert set(answered_by(url, 5, {"azureml-model-deployment": "green"})) == {"green"}


def test_nothing_with_traffic_and_no_header_is_404(serve):
    url, _ = serve({"blue": 0, "green": 0})
    response = score(url)
    assert response.status_code == 404
    assert "no deployment of endpoint 'ep1' has traffic" in response.json()["error"]
    assert score(url, headers={"azureml-model-deployment": "blue"}).status_code == 200


def test_an_unknown_deployment_in_the_header_is_404_with_did_you_mean(serve):
    url, _ = serve({"blue": 100})
    response = score(url, headers={"azureml-model-deployment": "gren"})
    assert response.status_code == 404
    assert "no deployment 'gren'; did you mean 'green'?" in response.json()["error"]


def test_keys(serve):
    url, _ = serve({"blue": 100})
    assert score(url, key={}).status_code == 401
    assert score(url, key={"Authorization": "Bearer wrong"}).status_code == 401
    assert score(url, key={"Authorization": "Bearer secondary-key"}).status_code == 200
    health = CLIENT.get(f"{url}/health")  # liveness needs no key
    assert health.status_code == 200 and health.json()["deployments"]["blue"]["ready"] == 2
    assert CLIENT.get(f"{url}/ready").status_code == 200


def test_mirror_copies_unnamed_requests_and_drops_the_answers(serve, workers):
    url, router = serve({"blue": 100, "green": 0}, mirror={"green": 50})
    assert set(answered_by(url, 40)) == {"blue"}  # the client always gets the live answer
    _wait(lambda: not router.background)
    mirrored = workers["green0"].n_scored
    assert 0 < mirrored < 40  # binomial(40, 0.5): 0 or 40 has probability 2e-12
    assert router.table.groups["green"].stats.n_mirrored == mirrored
    answered_by(url, 20, {"azureml-model-deployment": "blue"})  # named: never mirrored
    _wait(lambda: not router.background)
    assert workers["green0"].n_scored == mirrored


def test_past_request_timeout_ms_is_408(serve):
    url, _ = serve({"blue": 100}, timeout_ms=200)
    response = score(url, {"sleep": 2})  # answered 200 after 2 s, were it not cut at 0.2 s
    assert response.status_code == 408
    assert "request_timeout_ms=200" in response.json()["error"]
    assert response.headers["azureml-model-deployment"] == "blue"


def test_past_twice_the_concurrency_times_instances_is_429(serve, workers):
    url, router = serve({"blue": 0, "green": 100}, per_instance=1)  # green: 1 instance
    with ThreadPoolExecutor(2) as pool:
        blocked = [pool.submit(score, url, {"block": True}) for _ in range(2)]
        _wait(lambda: router.table.groups["green"].admitted == 2)
        refused = score(url)
        workers["green0"].release.set()
        assert [future.result().status_code for future in blocked] == [200, 200]
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "2 x max_concurrent_requests_per_instance 1 x instance_count 1" in refused.text


def test_body_over_the_bound_is_413(serve):
    from automl.engine.serving import ServingLimits

    url, _ = serve({"blue": 100}, limits=ServingLimits.resolve(body_bytes=100))
    response = score(url, {"data": "x" * 200})
    assert response.status_code == 413 and "AUTOML_MAX_REQUEST_BODY_MB" in response.text


def test_a_dead_worker_is_skipped(serve, workers):
    url, router = serve({"blue": 100})
    workers["blue0"].__exit__(None, None, None)
    Path(workers["blue0"].socket).unlink(missing_ok=True)
    for _ in range(6):
        response = score(url)
        assert response.status_code == 200 and response.json()["worker"] == "blue1"
    assert not router.table.groups["blue"].instances[0].ready  # its probes bring it back


def test_a_new_table_leaves_requests_in_flight_alone(serve, workers):
    url, router = serve({"blue": 0, "green": 100})
    table = router.table
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(score, url, {"block": True})
        _wait(lambda: table.groups["green"].admitted == 1)
        router.publish(RouteTable(2, KEYS, {"blue": 100, "green": 0}, {}, table.groups))
        assert set(answered_by(url, 4)) == {"blue"}
        workers["green0"].release.set()
        response = in_flight.result()
    assert response.status_code == 200 and response.headers["azureml-model-deployment"] == "green"


def _wait(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_unknown_paths_and_methods(serve):
    url, _ = serve({"blue": 100})
    assert CLIENT.post(f"{url}/predict", headers=AUTH).status_code == 404
    assert CLIENT.get(f"{url}/score", headers=AUTH).status_code == 405
