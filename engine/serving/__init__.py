"""The online endpoint (reference §7): `create_app(predictor, ...)` and `serve(...)`.

Public names: `create_app`, `serve`, `generate_key`, `BatchingWorker`,
`parse_score_request`, `RequestError`.
"""

from __future__ import annotations

import secrets

from automl.engine.serving._app import DEFAULT_MAX_BODY_BYTES, create_app
from automl.engine.serving._batcher import BatchingWorker
from automl.engine.serving._request import RequestError, parse_score_request

KEY_ENV = "AUTOML_ENDPOINT_KEY"


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
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    log_level: str = "info",
) -> None:
    """Run the endpoint with uvicorn until interrupted (Ctrl-C, SIGTERM)."""
    import uvicorn

    app = create_app(
        predictor, auth_key=auth_key, max_batch_size=max_batch_size, max_body_bytes=max_body_bytes
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "KEY_ENV",
    "BatchingWorker",
    "RequestError",
    "create_app",
    "generate_key",
    "parse_score_request",
    "serve",
]
