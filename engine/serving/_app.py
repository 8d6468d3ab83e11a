"""The online endpoint: FastAPI app around one Predictor (POST /score, GET /health, /docs).

The app only composes the predictor: request parsing (`_request`), batching across
requests (`_batcher`), key auth and error mapping live here; predictions come from
`automl.engine.predict` alone, so the endpoint answers exactly what batch scoring writes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from automl.engine.predict import Predictor
from automl.engine.serving._batcher import BatchingWorker
from automl.engine.serving._request import RequestError, decode_items, parse_score_request

logger = logging.getLogger("automl.serving")

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
OPEN_PATHS = ("/health", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc")
SCORE_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["input_data"],
    "properties": {
        "input_data": {
            "type": "object",
            "required": ["columns", "data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string", "enum": ["image"]}},
                "data": {
                    "type": "array",
                    "description": "base64 images, or JSON strings with image_base64, "
                    "model_explainability and xai_parameters (reference §7.3)",
                    "items": {"type": "string"},
                },
            },
        }
    },
}


def create_app(
    predictor: Predictor,
    *,
    auth_key: str | None = None,
    max_batch_size: int = 16,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The endpoint app. `auth_key=None` serves without auth (`--auth none`)."""
    worker = BatchingWorker(predictor, max_batch_size)
    # Decoding runs beside the event loop; a plain executor hands work over in about half
    # the time of Starlette's run_in_threadpool (which goes through anyio's limiter).
    decoder = ThreadPoolExecutor(min(8, os.cpu_count() or 1), thread_name_prefix="decode")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await worker.start()
        yield
        await worker.stop()
        decoder.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="automl-vision endpoint",
        description=f"{predictor.task} model {predictor.meta.get('model_name')}; "
        "Azure ML AutoML for images scoring format.",
        lifespan=lifespan,
    )
    app.state.worker = worker
    app.state.predictor = predictor
    _add_auth(app, auth_key)
    _add_routes(app, predictor, worker, decoder, max_body_bytes)
    return app


def _add_auth(app: FastAPI, auth_key: str | None) -> None:
    if auth_key is not None:
        app.add_middleware(BearerKeyMiddleware, key=auth_key)


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


def _add_routes(
    app: FastAPI,
    predictor: Predictor,
    worker: BatchingWorker,
    decoder: ThreadPoolExecutor,
    limit: int,
) -> None:
    @app.get("/health", summary="Liveness and readiness")
    async def health() -> JSONResponse:
        ready = worker.running
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
        try:
            body = await read_body(request, limit)
            items = parse_score_request(body)
            loop = asyncio.get_running_loop()
            fit = predictor.decode_size
            images = await loop.run_in_executor(decoder, decode_items, items, fit)
            results = await worker.predict(images)
            await _explain(predictor, items, images, results)
        except RequestError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse(results)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes (before reading, when announced)."""
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise RequestError(f"the body has {announced} bytes; the limit is {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"the body exceeds the limit of {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def _explain(predictor: Predictor, items, images, results: list[dict]) -> None:
    """Add visualizations/attributions to the results of XAI items (reference §7.3)."""
    wanted = [i for i, item in enumerate(items) if item.explain is not None]
    if not wanted:
        return
    try:
        from automl.engine.explain import ExplainError, explain_images
    except ImportError:
        raise RequestError(
            "model_explainability is not available in this installation "
            "(automl.engine.explain is missing)",
            501,
        ) from None
    for index in wanted:
        try:
            explained = await asyncio.to_thread(
                explain_images, predictor, [images[index]], **items[index].explain
            )
        except ExplainError as exc:
            raise RequestError(f"{items[index].where}: {exc}") from None
        except TypeError as exc:  # a wrongly typed xai parameter
            raise RequestError(f"{items[index].where}: bad xai_parameters ({exc})") from None
        results[index].update(
            {k: v for k, v in explained[0].items() if k in ("visualizations", "attributions")}
        )
