"""The running workers of one deployment revision, and who gets the next request.

Azure's concurrency rule (docs/azure-compatibility.md §14.5): a worker works on at most
`max_concurrent_requests_per_instance` requests at once (it batches them on the model);
as many again may wait for one, and past `2 x max_concurrent_requests_per_instance x
instance_count` requests in flight the deployment answers 429. A request goes to the
ready worker with the fewest requests in progress; the wait for one counts toward
`request_timeout_ms`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from automl.engine.endpoints._instances import Instance

logger = logging.getLogger("automl.endpoints")
QUEUE_FACTOR = 2  # Azure: at most 2 x concurrency x instances in flight


@dataclass
class GroupStats:
    """Counters shown by the router's /health."""

    n_requests: int = 0
    n_mirrored: int = 0
    n_refused: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class DeploymentGroup:
    """Workers of deployment `name` at `revision`."""

    def __init__(self, name: str, revision: int, spec: dict, instances: list[Instance]):
        self.name = name
        self.revision = revision
        self.spec = spec
        self.instances = instances
        settings = spec["request_settings"]
        self.per_instance = int(settings["max_concurrent_requests_per_instance"])
        self.timeout_s = settings["request_timeout_ms"] / 1000
        self.capacity = QUEUE_FACTOR * self.per_instance * len(instances)
        self.admitted = 0  # requests in flight: working or waiting for a worker
        self.freed = asyncio.Event()
        self.stats = GroupStats()

    def launch(self) -> None:
        for instance in self.instances:
            instance.launch()

    @property
    def n_ready(self) -> int:
        return sum(1 for instance in self.instances if instance.ready)

    @property
    def ready(self) -> bool:
        return self.n_ready > 0

    def admit(self) -> bool:
        """Take a place in flight; False past the capacity (answer 429)."""
        if self.admitted >= self.capacity:
            self.stats.n_refused += 1
            return False
        self.admitted += 1
        return True

    def leave(self) -> None:
        self.admitted -= 1
        self.freed.set()

    async def acquire(self) -> Instance | None:
        """The ready worker with the fewest requests in progress, once one has room; None
        when no worker is ready. Cancelled by the caller's deadline."""
        while True:
            ready = [instance for instance in self.instances if instance.ready]
            if not ready:
                return None
            best = min(ready, key=lambda instance: instance.in_flight)
            if best.in_flight < self.per_instance:
                best.in_flight += 1
                return best
            self.freed.clear()
            await self.freed.wait()

    def release(self, instance: Instance) -> None:
        instance.in_flight -= 1
        self.freed.set()

    def describe(self) -> dict:
        return {
            "revision": self.revision,
            "instances": len(self.instances),
            "ready": self.n_ready,
            "in_flight": self.admitted,
            "requests": self.stats.n_requests,
            "mirrored": self.stats.n_mirrored,
            "refused": self.stats.n_refused,
            "restarts": sum(instance.n_restarts for instance in self.instances),
        }

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) for the requests in flight to finish."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.admitted > 0 and loop.time() < deadline:
            self.freed.clear()
            try:
                async with asyncio.timeout(deadline - loop.time()):
                    await self.freed.wait()
            except TimeoutError:
                break
        if self.admitted > 0:
            logger.warning(
                "%s: %d request(s) still running after %.0f s: stopping anyway",
                self.name,
                self.admitted,
                timeout_s,
            )

    async def stop(self) -> None:
        await asyncio.gather(*(instance.stop() for instance in self.instances))

    def kill(self) -> None:
        for instance in self.instances:
            instance.kill()
