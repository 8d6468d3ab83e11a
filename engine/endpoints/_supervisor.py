"""Keeps a served endpoint's workers and route table in step with its state, with no
request dropped.

Every `poll_s` the supervisor reads the endpoint's `generation` (one SQLite row). When it
moved, it reads the endpoint and starts the workers of every deployment revision not yet
running. The new route table is published (one assignment: requests under way keep the
table they started with) once every deployment with live traffic in it has a ready worker;
until then the previous table keeps serving. A deployment revision no published table
names any more is drained (its requests in flight finish) and its workers stopped. When
the endpoint is deleted, `on_deleted` is called (the server stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from automl.engine.endpoints._groups import DeploymentGroup
from automl.engine.endpoints._instances import Instance, Probe
from automl.engine.endpoints._placement import Placement, Placer
from automl.engine.endpoints._router import EndpointRouter, RouteTable
from automl.engine.endpoints._store import DeploymentRecord, EndpointRecord, EndpointStore
from automl.engine.endpoints.worker import WorkerSpec

logger = logging.getLogger("automl.endpoints")
RUNTIME_PREFIX = "automl-endpoint-"
POLL_S = 0.5
DRAIN_MARGIN_S = 1.0


class EndpointSupervisor:
    """Runs the workers of endpoint `name` for `router`."""

    def __init__(
        self,
        store: EndpointStore,
        name: str,
        router: EndpointRouter,
        *,
        placer: Placer,
        max_batch_size: int = 16,
        worker_log_level: str = "warning",
        poll_s: float = POLL_S,
        on_deleted: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.router = router
        self.placer = placer
        self.max_batch_size = max_batch_size
        self.worker_log_level = worker_log_level
        self.poll_s = poll_s
        self.on_deleted = on_deleted
        self.groups: dict[tuple[str, int], DeploymentGroup] = {}
        self.retiring: set[DeploymentGroup] = set()  # draining, then stopped
        self.desired: EndpointRecord | None = None
        self.waiting_logged: int | None = None
        remove_stale_runtime_dirs()
        # the workers' sockets: 0700, and a short path (a socket path has at most 107 bytes)
        self.runtime_dir = Path(tempfile.mkdtemp(prefix=f"{RUNTIME_PREFIX}{os.getpid()}-"))
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"endpoint {self.name} supervisor")

    async def _run(self) -> None:
        while True:
            try:
                if not await self.tick():
                    return
            except Exception:  # a bug or an unreadable state: keep serving what runs
                logger.exception("endpoint %s: reloading its state failed", self.name)
            await asyncio.sleep(self.poll_s)

    async def tick(self) -> bool:
        """One round: reload when the state moved, publish when ready, retire the unused.
        False once the endpoint is deleted."""
        loop = asyncio.get_running_loop()
        generation = await loop.run_in_executor(None, self.store.generation, self.name)
        if generation is None:
            logger.warning("endpoint %s was deleted: stopping", self.name)
            if self.on_deleted is not None:
                self.on_deleted()
            return False
        if self.desired is None or generation != self.desired.generation:
            self.desired = await loop.run_in_executor(None, self.store.get, self.name)
            self._start_groups(self.desired)
        self._publish_when_ready(self.desired)
        await self._retire()
        return True

    def _start_groups(self, record: EndpointRecord) -> None:
        n_workers = sum(d.spec["instance_count"] for d in record.deployments)
        for deployment in record.deployments:
            key = (deployment.name, deployment.revision)
            if key not in self.groups:
                self.groups[key] = self._group(deployment, n_workers)
                self.groups[key].launch()

    def _group(self, deployment: DeploymentRecord, n_workers: int) -> DeploymentGroup:
        spec = deployment.spec
        probes = (Probe.of(spec["liveness_probe"]), Probe.of(spec["readiness_probe"]))
        env = {k: str(v) for k, v in (spec.get("environment_variables") or {}).items()}
        instances = []
        for index in range(spec["instance_count"]):
            placement = _threads_from(env, self.placer.place(n_workers))
            worker = WorkerSpec(
                label=f"{deployment.name}[{index}]",
                package=deployment.model_path,
                socket=str(
                    self.runtime_dir / f"{deployment.name}-{deployment.revision}-{index}.sock"
                ),
                device=placement.device,
                n_threads=placement.n_threads,
                request_seconds=spec["request_settings"]["request_timeout_ms"] / 1000,
                max_batch_size=self.max_batch_size,
                log_level=self.worker_log_level,
            )
            instances.append(Instance(worker, placement, env, probes))
        logger.info(
            "deployment %s (revision %d): %s, %d worker(s)",
            deployment.name,
            deployment.revision,
            deployment.model_ref or deployment.model_path,
            len(instances),
        )
        return DeploymentGroup(deployment.name, deployment.revision, spec, instances)

    def _publish_when_ready(self, record: EndpointRecord) -> None:
        current = self.router.table
        if current is not None and current.generation == record.generation:
            return
        groups = {d.name: self.groups[(d.name, d.revision)] for d in record.deployments}
        waiting = [name for name in _needed(record, current) if not groups[name].ready]
        if waiting:
            if self.waiting_logged != record.generation:
                self.waiting_logged = record.generation
                logger.info(
                    "endpoint %s: new traffic waits for a ready worker of %s",
                    self.name,
                    ", ".join(waiting),
                )
            return
        keys = (record.primary_key.encode(), record.secondary_key.encode())
        table = RouteTable(
            record.generation, keys, dict(record.traffic), dict(record.mirror_traffic), groups
        )
        self.router.publish(table)
        logger.info("endpoint %s: traffic %s%s", self.name, _shown(record.traffic), _mirror(record))

    async def _retire(self) -> None:
        table = self.router.table
        kept = set() if table is None else {(g.name, g.revision) for g in table.groups.values()}
        if self.desired is not None:
            kept |= {(d.name, d.revision) for d in self.desired.deployments}
        for key in [key for key in self.groups if key not in kept]:
            group = self.groups.pop(key)
            task = asyncio.create_task(self._drain_and_stop(group))
            self.router.background.add(task)
            task.add_done_callback(self.router.background.discard)

    async def _drain_and_stop(self, group: DeploymentGroup) -> None:
        self.retiring.add(group)
        logger.info("deployment %s (revision %d): draining", group.name, group.revision)
        try:
            await group.drain(group.timeout_s + DRAIN_MARGIN_S)
            await group.stop()
        finally:
            self.retiring.discard(group)
        logger.info("deployment %s (revision %d): stopped", group.name, group.revision)

    async def stop(self) -> None:
        """Stop reloading and end every worker (the server is shutting down)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        groups = [*self.groups.values(), *self.retiring]
        self.groups.clear()
        await asyncio.gather(*(group.stop() for group in groups))
        with contextlib.suppress(OSError):
            for path in self.runtime_dir.iterdir():
                path.unlink()
            self.runtime_dir.rmdir()

    def kill(self) -> None:
        """SIGKILL every worker still running (last resort on the way out)."""
        for group in [*self.groups.values(), *self.retiring]:
            group.kill()


def _threads_from(env: dict[str, str], placement: Placement) -> Placement:
    """The deployment's environment_variables may set a worker's CPU threads
    (OMP_NUM_THREADS) instead of the even split of the cores."""
    threads = env.get("OMP_NUM_THREADS", "")
    return (
        replace(placement, n_threads=int(threads))
        if threads.isdigit() and int(threads) > 0
        else placement
    )


def _needed(record: EndpointRecord, current: RouteTable | None) -> list[str]:
    """The deployments that must have a ready worker before `record` is published: those
    with live traffic, and those replaced by a new revision while the old one answers (a
    request naming one in the header never meets a deployment without workers)."""
    names = [name for name, percent in record.traffic.items() if percent > 0]
    if current is not None:
        names += [
            name
            for name in record.deployment_names
            if name in current.groups and current.groups[name].ready
        ]
    return list(dict.fromkeys(names))


def _shown(traffic: dict[str, int]) -> str:
    return " ".join(f"{name}={percent}" for name, percent in traffic.items()) or "(none)"


def _mirror(record: EndpointRecord) -> str:
    return f"; mirror {_shown(record.mirror_traffic)}" if record.mirror_traffic else ""


def remove_stale_runtime_dirs() -> None:
    """The socket folders of routers that died without cleaning up (killed): each is named
    after its router's PID, and removed once no such process runs."""
    for folder in Path(tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}*-*"):
        pid = folder.name[len(RUNTIME_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and folder.is_dir() and folder.owner() == _user() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _user() -> str:
    import getpass

    return getpass.getuser()


def _alive(pid: int) -> bool:
    from automl.engine.utils.processes import ProcessIdentity

    return ProcessIdentity.of(pid) is not None
