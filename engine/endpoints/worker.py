"""One instance of a deployment: `python -m automl.engine.endpoints.worker SPEC.json`.

The model server of `automl model serve` (engine/serving: app, batcher, bounds), loaded
from the deployment's package and listening on a Unix socket in the router's private
folder, where only the router reaches it. It stops when the router does, even when the
router is killed (engine/utils/processes.py: parent-death signal and a watch on the router).

It listens first and loads the model after: /health answers at once (503 while loading:
the process is up, the liveness probe passes) and 200 only once the model is loaded and
has answered its warm-up request (the readiness probe).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import asdict, dataclass, field

logger = logging.getLogger("automl.endpoints.worker")
LOADING = b'{"live": true, "ready": false, "state": "loading the model"}'


@dataclass(frozen=True)
class WorkerSpec:
    """What the router tells a worker, in a file beside its socket."""

    label: str  # deployment[instance], for log lines
    package: str
    socket: str
    device: str = "cpu"
    n_threads: int = 1
    request_seconds: float = 5.0
    max_batch_size: int = 16
    log_level: str = "warning"
    settings: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def read(cls, path: str) -> WorkerSpec:
        from automl.engine.utils.files import read_text_bounded

        return cls(**json.loads(read_text_bounded(path, "endpoint_file_bytes", "worker spec")))


def build_app(spec: WorkerSpec):
    """The model server of `spec` (slow: imports torch, loads the package)."""
    import torch

    from automl.engine.predict import Predictor
    from automl.engine.serving import ServingLimits, create_app

    torch.set_num_threads(spec.n_threads)
    predictor = Predictor.from_package(spec.package, device=spec.device, settings=spec.settings)
    limits = ServingLimits.resolve(request_seconds=spec.request_seconds)
    return create_app(predictor, max_batch_size=spec.max_batch_size, limits=limits, warmup=True)


class LoadingApp:
    """ASGI: 503 to every request while `build_app` runs in a thread, then the app it
    built (its lifespan entered) answers everything."""

    def __init__(self, spec: WorkerSpec, on_failure) -> None:
        self.spec = spec
        self.on_failure = on_failure  # the model cannot be served: stop the server
        self.failed = False
        self.app = None
        self.stack = contextlib.AsyncExitStack()
        self.loading: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(LOADING)).encode()),
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": LOADING})

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.loading = asyncio.create_task(self._load())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.loading.cancel()
                await self.stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _load(self) -> None:
        from automl.engine.errors import AutomlError

        try:
            app = await asyncio.get_running_loop().run_in_executor(None, build_app, self.spec)
        except Exception as exc:  # the package cannot be served: say why, exit 1
            if isinstance(exc, AutomlError):
                logger.error("%s", exc)
            else:
                logger.exception("loading the model failed")
            self.failed = True
            self.on_failure()
            return
        await self.stack.enter_async_context(app.router.lifespan_context(app))
        self.app = app
        logger.info("model loaded from %s (%s)", self.spec.package, self.spec.device)


def run_worker(spec: WorkerSpec) -> int:
    """Serve `spec` on its socket until SIGTERM (or the router's end); 1 when its model
    cannot be served (the router restarts it, logging why)."""
    import uvicorn

    from automl.engine.serving import server_config
    from automl.engine.utils.processes import stop_when_controller_gone

    stop_when_controller_gone(
        then="`automl endpoint serve NAME` starts the endpoint and its workers again"
    )
    # the router keeps connections open between requests: never close them for idling
    server = None
    app = LoadingApp(spec, on_failure=lambda: setattr(server, "should_exit", True))
    config = server_config(app, "", 0, spec.log_level, uds=spec.socket, timeout_keep_alive=3600)
    server = uvicorn.Server(config)
    server.run()
    return 1 if app.failed else 0


def main(argv: list[str]) -> int:
    spec = WorkerSpec.read(argv[1])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(levelname)s: {spec.label}: %(message)s"))
    root = logging.getLogger("automl")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if spec.log_level == "debug" else logging.INFO)
    root.propagate = False
    return run_worker(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
