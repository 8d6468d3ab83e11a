"""Concurrent requests batched on the model: an asyncio queue and one worker.

Each image waits in the queue with a future; the worker takes the first waiting image and
every other one already queued (up to `max_batch_size`), runs the predictor in its own
thread (the event loop keeps accepting requests meanwhile) and resolves the futures.
Nothing waits for a batch to fill: at concurrency 1 an image is scored at once, and under
load the images that arrive while the model is busy form the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from automl.engine.predict import Predictor

logger = logging.getLogger("automl.serving")


@dataclass
class _Pending:
    image: Image.Image
    future: asyncio.Future


class BatchingWorker:
    """Owns the model: `await worker.predict(images)` from any number of requests."""

    def __init__(self, predictor: Predictor, max_batch_size: int = 16) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.predictor = predictor
        self.max_batch_size = max_batch_size
        self.queue: asyncio.Queue[_Pending] | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="automl-model")
        self.task: asyncio.Task | None = None
        self.n_batches = 0
        self.n_images = 0

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name="automl-batching-worker")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def predict(self, images: list[Image.Image]) -> list[dict]:
        """Response objects for `images`, scored together with other requests' images."""
        if self.queue is None or not self.running:
            raise RuntimeError("the batching worker is not running")
        loop = asyncio.get_running_loop()
        pending = [_Pending(image, loop.create_future()) for image in images]
        for item in pending:
            self.queue.put_nowait(item)
        return list(await asyncio.gather(*(item.future for item in pending)))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [item for item in batch if not item.future.cancelled()]
            if not batch:
                continue
            await self._score(loop, batch)

    async def _score(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        images = [item.image for item in batch]
        try:
            results = await loop.run_in_executor(
                self.executor, lambda: self.predictor.predict(images, batch_size=len(images))
            )
        except Exception as exc:  # a model failure answers every waiting request
            logger.exception("scoring a batch of %d images failed", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self.n_batches += 1
        self.n_images += len(batch)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)
