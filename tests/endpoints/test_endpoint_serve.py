"""An endpoint from Azure's files with two registered versions, served by `automl endpoint
serve` and driven through the console script: traffic at 100/0, 90/10, 0/100, the header,
traffic and deployment updates while requests are in flight, two instances, a killed worker
restarted, and workers that die with the router."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from _support.paths import BUNDLED_DATA_DIR
from endpoint_files import write_deployment, write_endpoint

pytestmark = pytest.mark.slow
AUTOML = str(Path(sys.executable).with_name("automl"))
NAME = "flowers-ep"
IMAGE = next((BUNDLED_DATA_DIR / "flowers5" / "valid" / "images" / "daisy").glob("*.jpg"))
BODY = {
    "input_data": {"columns": ["image"], "data": [base64.b64encode(IMAGE.read_bytes()).decode()]}
}
READY_S = 600  # workers import torch and load the model: minutes on a loaded CI machine


class Endpoint:
    """The served endpoint: its files' folder, home, router process, URL and key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {**os.environ, "AUTOML_HOME": str(folder / "home"), "OMP_NUM_THREADS": "1"}
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.key = ""
        self.client = httpx.Client(timeout=120)

    def cli(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [AUTOML, *map(str, args)], capture_output=True, text=True, env=self.env, timeout=300
        )
        assert not check or result.returncode == 0, result.stderr
        return result

    def start(self) -> None:
        self.process = subprocess.Popen(
            [AUTOML, "endpoint", "serve", NAME, "--port", "0", "-o", "json"],
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        self.url = json.loads(self.process.stdout.readline())["scoring_uri"].rsplit("/", 1)[0]
        keys = json.loads(self.cli("endpoint", "get-credentials", NAME, "-o", "json").stdout)
        self.key = keys["primaryKey"]

    def health(self) -> dict:
        return self.client.get(f"{self.url}/health").json()

    def wait(self, condition, timeout: float = READY_S) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if condition(health):
                return health
            assert self.process.poll() is None, "the router exited"
            time.sleep(0.2)
        raise AssertionError(f"timed out; /health: {self.health()}")

    def set_traffic(self, traffic: str) -> None:
        """`endpoint update --traffic`, then wait until the router routes by it."""
        shown = json.loads(
            self.cli("endpoint", "update", NAME, "--traffic", traffic, "-o", "json").stdout
        )
        self.wait(lambda health: health["generation"] == shown["generation"])

    def score(self, deployment: str | None = None) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if deployment:
            headers["azureml-model-deployment"] = deployment
        response = self.client.post(f"{self.url}/score", json=BODY, headers=headers)
        assert response.status_code != 200 or response.json()[0]["labels"]
        return response.status_code, response.headers.get("azureml-model-deployment", "")

    def answers(self, n: int, deployment: str | None = None) -> Counter:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: self.score(deployment), range(n)))
        assert {status for status, _ in results} == {200}, results
        return Counter(name for _, name in results)

    def worker_pids(self) -> list[int]:
        text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in text.split()]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory, classification_run):
    served = Endpoint(tmp_path_factory.mktemp("endpoint"))
    for _ in range(2):  # flowers:1 and flowers:2
        served.cli("model", "register", "--name", "flowers", "--path", classification_run)
    files = served.folder
    served.cli("endpoint", "create", "--file", write_endpoint(files))
    blue = write_deployment(files, "blue", "azureml:flowers:1")
    served.cli("deployment", "create", "--file", blue, "--all-traffic")
    served.cli(
        "deployment", "create", "--file", write_deployment(files, "green", "azureml:flowers@latest")
    )
    try:
        served.start()
        yield served
    finally:
        if served.process is not None and served.process.poll() is None:
            served.process.terminate()
            served.process.wait(timeout=60)


@pytest.fixture
def traffic_during(endpoint):
    """Requests sent without pause in two threads while the test runs; their outcomes."""
    outcomes: list[tuple[int, str]] = []
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            try:
                outcomes.append(endpoint.score())
            except httpx.TransportError:  # the router was killed (the last test)
                return

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    yield outcomes
    stop.set()
    for thread in threads:
        thread.join(timeout=120)


def test_traffic_split_header_and_updates_in_flight(endpoint):
    shown = json.loads(endpoint.cli("deployment", "show", "green", "-e", NAME, "-o", "json").stdout)
    assert shown["model_ref"] == "flowers:2"  # azureml:flowers@latest, resolved at create
    endpoint.wait(lambda health: health["ready"] and health["deployments"]["green"]["ready"])

    assert endpoint.answers(20) == {"blue": 20}  # 100/0

    endpoint.set_traffic("blue=90 green=10")
    counts = endpoint.answers(200)
    assert counts["blue"] + counts["green"] == 200
    assert 0 < counts["green"] <= 20 + 5 * 4.3  # binomial(200, 0.1): mean 20, sd 4.2

    assert endpoint.answers(10, "green") == {"green": 10}  # the header picks one
    assert endpoint.answers(10, "blue") == {"blue": 10}

    endpoint.set_traffic("blue=0 green=100")
    assert endpoint.answers(20) == {"green": 20}  # 0/100


def test_traffic_updates_while_requests_are_in_flight(endpoint, traffic_during):
    endpoint.wait(lambda health: health["ready"])
    for split in ("blue=50 green=50", "blue=100", "green=100", "blue=10 green=90", "blue=100"):
        endpoint.set_traffic(split)
        time.sleep(0.3)
    endpoint.set_traffic("blue=0 green=0")  # no traffic: 404, as Azure
    status, _ = endpoint.score()
    assert status == 404
    endpoint.set_traffic("blue=100")
    outcomes = list(traffic_during)
    assert len(outcomes) > 10
    assert {status for status, _ in outcomes} <= {200, 404}
    assert {name for status, name in outcomes if status == 200} == {"blue", "green"}


def test_two_instances_a_killed_worker_and_the_routers_end(endpoint, traffic_during):
    refused = endpoint.cli("endpoint", "serve", NAME, "--port", "0", check=False)
    assert refused.returncode == 1 and "is served already by process" in refused.stderr

    green2 = write_deployment(endpoint.folder, "green", "azureml:flowers:1", instances=2)
    endpoint.cli("deployment", "update", "--file", green2)  # replaced while requests flow
    health = endpoint.wait(lambda h: _green(h)["revision"] == 2 and _green(h)["ready"] == 2)
    assert health["deployments"]["green"]["instances"] == 2
    endpoint.set_traffic("blue=50 green=50")
    time.sleep(1)
    assert {status for status, _ in traffic_during} == {200}  # nothing dropped meanwhile

    victim = _worker_of(endpoint, "green-2-0.json")
    os.kill(victim, signal.SIGKILL)
    assert endpoint.answers(8, "green") == {"green": 8}  # the other instance answers
    endpoint.wait(lambda h: _green(h)["restarts"] >= 1 and _green(h)["ready"] == 2)

    workers = endpoint.worker_pids()
    assert len(workers) == 3  # blue, green x 2
    endpoint.process.kill()  # SIGKILL: the workers must still go
    endpoint.process.wait(timeout=30)
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)
    from automl.engine.endpoints._supervisor import RUNTIME_PREFIX, remove_stale_runtime_dirs

    remove_stale_runtime_dirs()  # what the next `serve` does with the killed router's sockets
    assert not list(Path(tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}{endpoint.process.pid}-*"))


def _green(health: dict) -> dict:
    return health["deployments"]["green"]


def _worker_of(endpoint: Endpoint, spec_name: str) -> int:
    for pid in endpoint.worker_pids():
        if spec_name in Path(f"/proc/{pid}/cmdline").read_text():
            return pid
    raise AssertionError(f"no worker {spec_name}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
