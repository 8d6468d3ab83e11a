"""POST /score, from a request's first byte to its answer, within the endpoint's bounds.

Each stage is bounded before the next begins: requests at once (429), the media type
(415), the announced body size (413), room in the server-wide budget of bodies (503 when
none frees up in time), the body (413; read within the time limit), its JSON (400 past the
depth and value bounds, 413 past the image cap), the images' headers (413 past the pixel
bounds; nothing decoded yet), room in the server-wide budget of decoded pixels (503), then
decoding, scoring and explaining (408 past the time limit). Decoding goes a batch of
images at a time, so a small request's images are decoded between a large one's. When
the client disconnects, the work stops: decoding between batches, its images waiting in
the batcher are dropped, explanations not yet started are not.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from automl.engine.predict import Predictor
from automl.engine.serving._batcher import BatchingWorker
from automl.engine.serving._errors import RequestError
from automl.engine.serving._limits import Budget, ConcurrencyGate, ServingLimits
from automl.engine.serving._request import (
    Cancelled,
    ScoreItem,
    close_items,
    decode_items,
    list_form_result,
    prepare_items,
)

INLINE_BODY_BYTES = 256 * 1024


def error_response(exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


class Scorer:
    """The /score handler of one app: `await scorer(request)` -> JSONResponse."""

    def __init__(self, predictor: Predictor, worker: BatchingWorker, limits: ServingLimits):
        self.predictor = predictor
        self.worker = worker
        self.limits = limits
        self.gate = ConcurrencyGate(limits.concurrent_requests)
        self.bodies = Budget(limits.inflight_body_bytes)
        self.budget = Budget(limits.inflight_pixels)
        # Decoding runs beside the event loop; a plain executor hands work over in about
        # half the time of Starlette's run_in_threadpool (which goes through anyio's limiter).
        self.decoder = ThreadPoolExecutor(min(8, os.cpu_count() or 1), thread_name_prefix="decode")
        # One explanation at a time: each is tens of forward and backward passes.
        self.explainer = ThreadPoolExecutor(1, thread_name_prefix="explain")

    def shutdown(self) -> None:
        self.decoder.shutdown(wait=False, cancel_futures=True)
        self.explainer.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, request: Request) -> JSONResponse:
        if not self.gate.enter():
            return error_response(self._busy())
        try:
            return JSONResponse(await self.score(request))
        except RequestError as exc:
            return error_response(exc)
        except (ClientDisconnect, Cancelled):  # nobody reads this answer
            return error_response(RequestError("the client disconnected", 400))
        finally:
            self.gate.leave()

    def _busy(self) -> RequestError:
        n = self.limits.concurrent_requests
        error = self.limits.refuse(
            "concurrent_requests",
            f"the endpoint is already working on {n} requests, its limit; retry later",
            status=429,
        )
        error.headers["Retry-After"] = "1"
        return error

    async def score(self, request: Request) -> list[dict]:
        """The response objects of one request (RequestError for a bad or oversized one)."""
        deadline = asyncio.get_running_loop().time() + self.limits.request_seconds
        check_content_type(request)
        reserved = self.bodies.share(body_size(request, self.limits))
        await self._admit(self.bodies, reserved, deadline, "inflight_body_bytes")
        try:
            return await self._score_body(request, deadline)
        finally:
            self.bodies.release(reserved)

    async def _score_body(self, request: Request, deadline: float) -> list[dict]:
        body = await self._within(read_body(request, self.limits), deadline)
        items, pixels = await self._within(self._prepare(body), deadline)
        del body
        share = self.budget.share(pixels)
        try:
            await self._admit(self.budget, share, deadline, "inflight_pixels")
        except BaseException:
            close_items(items)
            raise
        cancelled = threading.Event()
        try:
            work = self._compute(items, cancelled)
            return await self._within(until_disconnect(request, work), deadline)
        finally:
            cancelled.set()
            self.budget.release(share)

    async def _prepare(self, body: bytes) -> tuple[list[ScoreItem], int]:
        """Items and their pixels: beside the event loop unless the body is small (a thread
        hand-over costs more than reading a small body's JSON and image headers)."""
        arguments = (body, self.predictor.decode_size, self.limits)
        if len(body) <= INLINE_BODY_BYTES:
            return prepare_items(*arguments)
        return await self._decoding(prepare_items, *arguments)

    async def _decoding(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.decoder, function, *args)

    async def _within(self, awaitable, deadline: float):
        """`await awaitable`, cancelled with a 408 at `deadline` (event-loop time)."""
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(awaitable, remaining)
        except TimeoutError:
            seconds = self.limits.request_seconds
            raise self.limits.refuse(
                "request_seconds",
                f"the request took longer than the limit of {seconds:g} s",
                status=408,
            ) from None

    async def _admit(self, budget: Budget, amount: int, deadline: float, field: str) -> None:
        """Wait for `amount` of a server-wide budget; 503 when none frees up by `deadline`."""
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            await budget.acquire(amount, remaining)
        except TimeoutError:
            units = {"inflight_body_bytes": "body bytes", "inflight_pixels": "decoded pixels"}
            error = self.limits.refuse(
                field,
                f"the endpoint is busy: requests in progress hold its budget of "
                f"{budget.capacity:,} {units[field]}; retry later",
                status=503,
            )
            error.headers["Retry-After"] = "1"
            raise error from None

    async def _compute(self, items: list[ScoreItem], cancelled: threading.Event) -> list[dict]:
        images = []
        step = self.worker.max_batch_size  # other requests' decoding goes in between
        for start in range(0, len(items), step):
            images += await self._decoding(decode_items, items[start : start + step], cancelled)
        results = await self.worker.predict(images)
        await self._explain(items, images, results, cancelled)
        if items and items[0].list_form:
            return [list_form_result(result) for result in results]
        return results

    async def _explain(self, items, images, results: list[dict], cancelled) -> None:
        """Add visualizations/attributions to the results of XAI items (docs/azure-compatibility.md
        §7.3);
        detection and segmentation results also get `explained_boxes` (D-RISE)."""
        wanted = [i for i, item in enumerate(items) if item.explain is not None]
        if not wanted:
            return
        try:
            import automl.engine.explain  # noqa: F401
        except ImportError:
            raise RequestError(
                "model_explainability is not available in this installation "
                "(automl.engine.explain is missing)",
                501,
            ) from None
        loop = asyncio.get_running_loop()
        for index in wanted:
            if cancelled.is_set():
                raise Cancelled
            item = items[index]
            work = functools.partial(explain_item, self.predictor, images[index], item, cancelled)
            results[index].update(await loop.run_in_executor(self.explainer, work))


XAI_RESPONSE_KEYS = ("visualizations", "attributions", "explained_boxes")


def explain_item(predictor, image, item: ScoreItem, cancelled: threading.Event) -> dict:
    """The XAI keys of one item's result (in the explainer thread); a detector's masks stop
    between batches once `cancelled` is set."""
    from automl.engine.explain import ExplainCancelled, ExplainError, explain_images

    try:
        [explained] = explain_images(
            predictor, [image], should_stop=cancelled.is_set, **item.explain
        )
    except ExplainError as exc:
        raise RequestError(f"{item.where}: {exc}") from None
    except ExplainCancelled:
        raise Cancelled from None
    except TypeError as exc:  # a wrongly typed xai parameter
        raise RequestError(f"{item.where}: bad xai_parameters ({exc})") from None
    return {k: v for k, v in explained.items() if k in XAI_RESPONSE_KEYS}


def check_content_type(request: Request) -> None:
    """415 unless the body is declared JSON (a browser cannot send that cross-site without
    asking the endpoint first, which it does not allow)."""
    declared = request.headers.get("content-type", "")
    media = declared.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise RequestError(
            f"Content-Type {declared or '(none)'!r} is not accepted; the body must be JSON",
            415,
            hint="send the header 'Content-Type: application/json'",
        )


def body_size(request: Request, limits: ServingLimits) -> int:
    """The announced body size (413 past the bound); the bound when none is announced."""
    announced = request.headers.get("content-length", "")
    if not announced.isdigit():
        return limits.body_bytes
    if int(announced) > limits.body_bytes:
        raise _body_too_large(f"the body has {int(announced):,} bytes", limits)
    return int(announced)


async def read_body(request: Request, limits: ServingLimits) -> bytes:
    """The body, refused with 413 past the bound (before reading, when announced)."""
    body_size(request, limits)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.body_bytes:
            raise _body_too_large("the body is larger", limits)
        chunks.append(chunk)
    return b"".join(chunks)


def _body_too_large(what: str, limits: ServingLimits) -> RequestError:
    return limits.refuse(
        "body_bytes",
        f"{what}; the limit is {limits.body_bytes:,} bytes ({limits.shown('body_bytes')} MiB)",
    )


async def until_disconnect(request: Request, work):
    """The result of coroutine `work`, or ClientDisconnect (and `work` cancelled) when the
    client goes away first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    raise ClientDisconnect


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body has been read: nothing else comes)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
