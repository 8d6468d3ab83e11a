"""The online endpoint: FastAPI app around one Predictor (POST /score, GET /health, /docs).

The app only composes the predictor: request parsing (`_request`), the bounded scoring
pipeline (`_score`), batching across requests (`_batcher`), key auth and Host checks live
here and beside it; predictions come from `automl.engine.predict` alone, so the endpoint
answers exactly what batch scoring writes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from automl.engine.predict import Predictor
from automl.engine.serving._batcher import BatchingWorker
from automl.engine.serving._hosts import OPEN_PATHS, HostCheckMiddleware
from automl.engine.serving._limits import ServingLimits
from automl.engine.serving._score import Scorer

logger = logging.getLogger("automl.serving")

SCORE_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["input_data"],
    "properties": {
        "input_data": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["columns", "data"],
                    "properties": {
                        "columns": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["image"]},
                        },
                        "data": {
                            "type": "array",
                            "description": "base64 images, or JSON strings with image_base64, "
                            "model_explainability and xai_parameters "
                            "(docs/azure-compatibility.md §7.3)",
                            "items": {"type": "string"},
                        },
                    },
                },
                {
                    "type": "array",
                    "description": "Azure's Transformers list form: base64 images; "
                    'classifiers answer each with its top classes {"0": {"label", "score"}, ...}',
                    "items": {"type": "string"},
                },
            ]
        }
    },
}


def create_app(
    predictor: Predictor,
    *,
    auth_key: str | None = None,
    max_batch_size: int = 16,
    max_body_bytes: int | None = None,
    limits: ServingLimits | None = None,
    allowed_hosts: Iterable[str] | None = None,
    warmup: bool = False,
) -> FastAPI:
    """The endpoint app. `auth_key=None` serves without auth (`--auth none`); then only
    requests whose Host names one of `allowed_hosts` are answered (None: no check; `serve`
    always passes them). `limits`: default ServingLimits.resolve(); `max_body_bytes`
    overrides its body bound. `warmup`: once started, score one blank image through the
    batcher; /health says ready only after it answered (an endpoint's readiness probe)."""
    limits = limits or ServingLimits.resolve()
    if max_body_bytes is not None:
        limits = dataclasses.replace(limits, body_bytes=max_body_bytes)
    worker = BatchingWorker(predictor, max_batch_size)
    scorer = Scorer(predictor, worker, limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await worker.start()
        app.state.warmed = not warmup
        warming = asyncio.create_task(_warm_up(app, worker)) if warmup else None
        yield
        if warming is not None:
            warming.cancel()
        await worker.stop()
        scorer.shutdown()

    app = FastAPI(
        title="automl-vision endpoint",
        description=f"{predictor.task} model {predictor.meta.get('model_name')}; "
        "Azure ML AutoML for images scoring format.",
        lifespan=lifespan,
    )
    app.state.worker = worker
    app.state.predictor = predictor
    app.state.scorer = scorer
    if auth_key is not None:
        app.add_middleware(BearerKeyMiddleware, key=auth_key)
    elif allowed_hosts is not None:
        app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts)
    _add_routes(app, predictor, worker, scorer)
    return app


async def _warm_up(app: FastAPI, worker: BatchingWorker) -> None:
    """One blank image through the batcher and the model: the first request pays no
    first-call costs, and readiness means the model has answered."""
    from PIL import Image

    try:
        await worker.predict([Image.new("RGB", (64, 64), (128, 128, 128))])
    except Exception:  # the model cannot score: stay unready, say why
        logger.exception("the warm-up request failed; the endpoint stays unready")
        return
    app.state.warmed = True


class BearerKeyMiddleware:
    """401 for a request without `Authorization: Bearer KEY` (open paths excepted).

    A plain ASGI middleware: Starlette's `@app.middleware("http")` runs every request
    through an extra task and stream pair, which cost about a millisecond per request.
    """

    def __init__(self, app, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "missing or wrong key; send 'Authorization: Bearer <key>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _allowed(self, scope) -> bool:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, given = header.partition(b" ")
        return scheme.lower() == b"bearer" and secrets.compare_digest(given.strip(), self.key)


def _add_routes(app: FastAPI, predictor: Predictor, worker: BatchingWorker, scorer: Scorer):
    @app.get("/health", summary="Liveness and readiness")
    async def health() -> JSONResponse:
        ready = worker.running and app.state.warmed
        body = {
            "live": True,
            "ready": ready,
            "task": predictor.task,
            "model_name": predictor.meta.get("model_name"),
            "n_labels": len(predictor.labels),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.post(
        "/score",
        summary="Score images (Azure request and response format)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SCORE_REQUEST_SCHEMA}},
            }
        },
    )
    async def score(request: Request) -> JSONResponse:
        return await scorer(request)
