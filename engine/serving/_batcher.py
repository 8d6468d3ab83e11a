"""Concurrent requests batched on the model: one worker, round robin over requests.

Each request's images wait in its own queue, each with a future; the worker fills a batch
(up to `max_batch_size`) by taking one image from each waiting request in turn, runs the
predictor in its own thread (the event loop keeps accepting requests meanwhile) and
resolves the futures. A request of many images therefore takes one place per round and
never holds back a small one for more than a batch. Nothing waits for a batch to fill: at
concurrency 1 an image is scored at once, and under load the images that arrive while the
model is busy form the next batch. A request that is cancelled (its client left, its time
ran out) takes its waiting images out of the rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from automl.engine.predict import Predictor

logger = logging.getLogger("automl.serving")


@dataclass(eq=False)
class _Pending:
    image: Image.Image
    future: asyncio.Future


@dataclass(eq=False)  # compared by identity: one per request
class _Job:
    waiting: deque[_Pending]


class BatchingWorker:
    """Owns the model: `await worker.predict(images)` from any number of requests."""

    def __init__(self, predictor: Predictor, max_batch_size: int = 16) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.predictor = predictor
        self.max_batch_size = max_batch_size
        self.jobs: deque[_Job] = deque()  # the requests with images waiting, in turn
        self.wakeup: asyncio.Event | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="automl-model")
        self.task: asyncio.Task | None = None
        self.n_batches = 0
        self.n_images = 0

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def start(self) -> None:
        self.wakeup = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name="automl-batching-worker")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def predict(self, images: list[Image.Image]) -> list[dict]:
        """Response objects for `images`, scored together with other requests' images.
        Cancelling the call drops its images that are still waiting."""
        if self.wakeup is None or not self.running:
            raise RuntimeError("the batching worker is not running")
        if not images:
            return []
        loop = asyncio.get_running_loop()
        job = _Job(deque(_Pending(image, loop.create_future()) for image in images))
        futures = [item.future for item in job.waiting]
        self.jobs.append(job)
        self.wakeup.set()
        try:
            return list(await asyncio.gather(*futures))
        finally:
            if job in self.jobs:  # cancelled or failed before all were scored
                self.jobs.remove(job)

    def next_batch(self) -> list[_Pending]:
        """Up to max_batch_size waiting images, one per request in turn."""
        batch: list[_Pending] = []
        while self.jobs and len(batch) < self.max_batch_size:
            job = self.jobs.popleft()
            item = job.waiting.popleft()
            if not item.future.done():
                batch.append(item)
            if job.waiting:
                self.jobs.append(job)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            batch = self.next_batch()
            if not self.jobs:
                self.wakeup.clear()
            if batch:
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
