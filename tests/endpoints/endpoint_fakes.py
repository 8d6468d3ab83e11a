"""Stand-ins for deployment workers: tiny ASGI servers on Unix sockets, in threads, that
answer /score with their own name (no model, no torch), for router tests.

A request body `{"sleep": S}` answers after S seconds; `{"block": true}` waits until the
worker's `release` event is set.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path


class FakeWorker:
    """A worker named `name` listening on `socket` (uvicorn in a thread)."""

    def __init__(self, name: str, socket: Path) -> None:
        import uvicorn

        from automl.engine.serving import server_config

        self.name = name
        self.socket = str(socket)
        self.n_scored = 0
        self.release = threading.Event()
        config = server_config(self.app, "", 0, "warning", uds=self.socket, interface="asgi3")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/score":
            await self._behave(json.loads(body or b"{}"))
            self.n_scored += 1
        answer = json.dumps({"worker": self.name}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(answer)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _behave(self, request: dict) -> None:
        if request.get("sleep"):
            await asyncio.sleep(request["sleep"])
        while request.get("block") and not self.release.is_set():
            await asyncio.sleep(0.01)

    def __enter__(self) -> FakeWorker:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake worker did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.should_exit = True
        self.thread.join(timeout=10)


def ready_instance(name: str, index: int, socket: str):
    """An Instance whose worker is `socket`, marked ready, never launched."""
    from automl.engine.endpoints._instances import Instance, Probe
    from automl.engine.endpoints._placement import Placement
    from automl.engine.endpoints.worker import WorkerSpec

    probe = Probe(1, 1, 1, 1, 3)
    spec = WorkerSpec(label=f"{name}[{index}]", package="-", socket=socket)
    instance = Instance(spec, Placement("", 1), {}, (probe, probe))
    instance.ready = True
    return instance


def group(name: str, sockets: list[str], timeout_ms: int = 5000, per_instance: int = 4):
    """A DeploymentGroup over ready fake instances."""
    from automl.engine.endpoints._groups import DeploymentGroup

    spec = {
        "request_settings": {
            "request_timeout_ms": timeout_ms,
            "max_concurrent_requests_per_instance": per_instance,
        }
    }
    instances = [ready_instance(name, i, socket) for i, socket in enumerate(sockets)]
    return DeploymentGroup(name, 1, spec, instances)
