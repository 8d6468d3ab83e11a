"""The online endpoint (docs/azure-compatibility.md §7): `create_app(predictor, ...)` and
`serve(...)`.

Public names: `create_app`, `serve`, `server_config`, `generate_key`, `BatchingWorker`,
`ServingLimits`, `Budget`, `ConcurrencyGate`, `default_allowed_hosts`,
`parse_score_request`, `RequestError`.

The names that need the model side (`create_app`, `BatchingWorker`, `parse_score_request`:
torch, the predictors) are imported on first use, so a process that only routes requests
(engine/endpoints' router) never loads torch.
"""

from __future__ import annotations

import importlib
import logging
import secrets
from collections.abc import Iterable

from automl.engine.utils.extras import require

# Every name here serves HTTP (fastapi's responses, uvicorn's server): the `serve` extra.
require("fastapi", "serve", "serving a model over HTTP")
require("uvicorn", "serve", "serving a model over HTTP")

from automl.engine.serving._errors import RequestError  # noqa: E402
from automl.engine.serving._hosts import default_allowed_hosts  # noqa: E402
from automl.engine.serving._limits import Budget, ConcurrencyGate, ServingLimits  # noqa: E402

KEY_ENV = "AUTOML_ENDPOINT_KEY"
logger = logging.getLogger("automl.serving")
_LAZY = {"create_app": "_app", "BatchingWorker": "_batcher", "parse_score_request": "_request"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def generate_key() -> str:
    """A random endpoint key (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def serve(
    predictor,
    *,
    host: str = "127.0.0.1",
    port: int = 5001,
    auth_key: str | None = None,
    max_batch_size: int = 16,
    limits: ServingLimits | None = None,
    allowed_hosts: Iterable[str] = (),
    log_level: str = "info",
) -> None:
    """Run the endpoint with uvicorn until interrupted (Ctrl-C, SIGTERM). Without a key,
    only Host names of this machine's loopback, `host` and `allowed_hosts` are answered."""
    import uvicorn

    from automl.engine.serving._app import create_app

    hosts = None if auth_key is not None else default_allowed_hosts(host, allowed_hosts)
    if hosts is not None:
        logger.warning("no key: answering requests for Host %s only", ", ".join(hosts))
    app = create_app(
        predictor,
        auth_key=auth_key,
        max_batch_size=max_batch_size,
        limits=limits,
        allowed_hosts=hosts,
    )
    uvicorn.Server(server_config(app, host, port, log_level)).run()


def server_config(
    app, host: str, port: int, log_level: str = "info", *, uds: str | None = None, **options
):
    """uvicorn's configuration of the endpoint. h11 is named (not left to whichever parser
    is installed) for its bound on the request line and headers: `request_header_bytes`.
    `uds`: listen on that Unix socket instead of host:port; `options`: more of uvicorn's."""
    import uvicorn

    from automl.schemas import limit

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        uds=uds,
        log_level=log_level,
        access_log=False,
        http="h11",
        h11_max_incomplete_event_size=limit("request_header_bytes"),
        **options,
    )


__all__ = [
    "KEY_ENV",
    "BatchingWorker",
    "Budget",
    "ConcurrencyGate",
    "RequestError",
    "ServingLimits",
    "create_app",
    "default_allowed_hosts",
    "generate_key",
    "parse_score_request",
    "serve",
    "server_config",
]
