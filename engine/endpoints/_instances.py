"""One worker process of a deployment, kept running: started, probed, restarted.

Probes are Kubernetes' as Azure documents them (docs/azure-compatibility.md §14.2), with
the timings of the deployment file: each starts `initial_delay` s after the worker, then
runs every `period` s and waits `timeout` s for its answer. Liveness passes when the
worker's /health answers at all (the process is up: a worker listens before it loads its
model); `failure_threshold` failures in a row restart it. Readiness passes when /health
answers 200 (the model is loaded and has answered its warm-up request);
`success_threshold` passes in a row make the worker ready for requests,
`failure_threshold` failures take it out of rotation. A worker that exits is
restarted, after 1, 2, 4 ... (at most 30) s while it keeps failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from automl.engine.endpoints._client import WorkerClient
from automl.engine.endpoints._placement import Placement
from automl.engine.endpoints.worker import WorkerSpec
from automl.engine.utils.processes import controller_marker

logger = logging.getLogger("automl.endpoints")
EXIT_CHECK_S = 0.2  # how often a worker's exit is noticed
STOP_GRACE_S = 10.0  # SIGTERM -> SIGKILL
MAX_BACKOFF_S = 30


@dataclass(frozen=True)
class Probe:
    """A probe's timings (seconds) and thresholds, from a deployment file."""

    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def of(cls, spec: dict) -> Probe:
        return cls(**{name: spec[name] for name in cls.__dataclass_fields__})

    def describe(self, kind: str) -> str:
        """'liveness probe after 10 s every 10 s (timeout 2 s; ...)', for the logs."""
        if kind == "readiness":
            outcome = (
                f"ready after {self.success_threshold} pass(es), unready after "
                f"{self.failure_threshold} failures"
            )
        else:
            outcome = f"restart after {self.failure_threshold} failures"
        return (
            f"{kind} probe after {self.initial_delay:g} s every {self.period:g} s "
            f"(timeout {self.timeout:g} s; {outcome})"
        )


class Instance:
    """Worker `index` of a deployment revision: its process, client, probes and state."""

    def __init__(self, spec: WorkerSpec, placement: Placement, env: dict[str, str], probes):
        self.spec = spec
        self.placement = placement
        self.env = env
        self.liveness, self.readiness = probes
        self.client = WorkerClient(spec.socket)
        self.process: subprocess.Popen | None = None
        self.ready = False
        self.in_flight = 0
        self.n_restarts = 0  # in all (shown by /health)
        self.n_failing = 0  # restarts since it was last ready (the back-off)
        self.stopping = False
        self.task: asyncio.Task | None = None

    @property
    def label(self) -> str:
        return self.spec.label

    def launch(self) -> None:
        """Start supervising: the process, its probes, its restarts."""
        self.task = asyncio.create_task(self._supervise(), name=f"worker {self.label}")

    async def _supervise(self) -> None:
        while not self.stopping:
            self._start()
            reason = await self._watch()
            self.ready = False
            if self.stopping:
                return
            delay = min(2**self.n_failing, MAX_BACKOFF_S)
            self.n_failing += 1
            self.n_restarts += 1
            logger.warning("%s: %s; restarting it in %d s", self.label, reason, delay)
            await self._terminate()
            await asyncio.sleep(delay)

    def _start(self) -> None:
        socket_path = Path(self.spec.socket)
        socket_path.unlink(missing_ok=True)
        spec_file = socket_path.with_suffix(".json")
        spec_file.write_text(self.spec.to_json(), encoding="utf-8")
        env = {**os.environ, **self.env, **self.placement.variables(), **controller_marker()}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "automl.engine.endpoints.worker", str(spec_file)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C reaches the router, which stops its workers
        )
        where = (
            f"GPU {self.placement.cuda_visible_devices}"
            if self.placement.device == "cuda"
            else "CPU"
        )
        logger.info(
            "%s: started (pid %d, %s, %d threads); %s; %s",
            self.label,
            self.process.pid,
            where,
            self.placement.n_threads,
            self.liveness.describe("liveness"),
            self.readiness.describe("readiness"),
        )

    async def _watch(self) -> str:
        """Probe until the worker must be restarted; returns why."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        state = _ProbeState(
            started + self.liveness.initial_delay, started + self.readiness.initial_delay
        )
        while True:
            wake = min(state.next_live, state.next_ready) - loop.time()
            await asyncio.sleep(min(max(wake, 0.0), EXIT_CHECK_S))
            code = self.process.poll()
            if code is not None:
                return f"the worker exited with code {code}"
            now = loop.time()
            if now >= state.next_live:
                state.next_live = now + self.liveness.period
                reason = await self._check_liveness(state)
                if reason:
                    return reason
            if now >= state.next_ready:
                state.next_ready = now + self.readiness.period
                await self._check_readiness(state, now - started)

    async def _health(self, timeout: float) -> int | None:
        """The status of GET /health, None without an answer within `timeout` s."""
        try:
            async with asyncio.timeout(timeout):
                return (await self.client.request("GET", "/health", [])).status
        except Exception:  # refused, reset, timed out: no answer
            return None

    async def _check_liveness(self, state: _ProbeState) -> str | None:
        if await self._health(self.liveness.timeout) is not None:
            state.live_failures = 0
            return None
        state.live_failures += 1
        if state.live_failures >= self.liveness.failure_threshold:
            return (
                f"no answer to {state.live_failures} liveness probes in a row "
                "(liveness_probe.failure_threshold)"
            )
        return None

    async def _check_readiness(self, state: _ProbeState, age: float) -> None:
        if await self._health(self.readiness.timeout) == 200:
            state.ready_failures, state.ready_passes = 0, state.ready_passes + 1
            if not self.ready and state.ready_passes >= self.readiness.success_threshold:
                self.ready, self.n_failing = True, 0
                logger.info(
                    "%s: ready after %.1f s (%d readiness pass(es))",
                    self.label,
                    age,
                    state.ready_passes,
                )
            return
        state.ready_passes, state.ready_failures = 0, state.ready_failures + 1
        if state.ready_failures == self.readiness.failure_threshold:
            self.ready = False
            logger.warning(
                "%s: %d readiness probes failed in a row (readiness_probe.failure_threshold): "
                "out of rotation until one passes again",
                self.label,
                state.ready_failures,
            )

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop supervising and end the worker (SIGTERM, SIGKILL after `grace_s`)."""
        self.stopping = True
        self.ready = False
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self._terminate(grace_s)
        self.client.close()
        Path(self.spec.socket).unlink(missing_ok=True)
        Path(self.spec.socket).with_suffix(".json").unlink(missing_ok=True)

    async def _terminate(self, grace_s: float = STOP_GRACE_S) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        for _ in range(int(grace_s / 0.05)):
            if process.poll() is not None:
                return
            await asyncio.sleep(0.05)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker now and reap it (the router's last resort on exit)."""
        if self.process is not None and self.process.poll() is None:
            self._signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)  # the worker leads its own session


@dataclass
class _ProbeState:
    next_live: float
    next_ready: float
    live_failures: int = 0
    ready_passes: int = 0
    ready_failures: int = 0
