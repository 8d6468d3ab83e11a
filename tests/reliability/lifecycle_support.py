"""Shared by the test_lifecycle_*.py tests: tiny real jobs run by the installed `automl`
command in their own processes, killed and resumed as a user (or cron) would.

Everything a test starts is stopped at its end (`Processes`): the commands it ran and
every process marked with the identity of a controller it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _support.jobs import write_job as job_file
from _support.paths import AUTOML

from automl.engine.utils.processes import marked_processes, start_time

# Under a loaded 2-core machine a tiny epoch may take seconds: waits are generous.
WAIT_S = 240


def write_job(folder: Path, epochs: int, max_trials: int = 1, batch: int = 32) -> Path:
    """The tiny job 'lifecycle': `epochs` epochs of `batch` images (no early stop)."""
    return job_file(folder, name="lifecycle", epochs=epochs, limits={"max_trials": max_trials},
                    early_stopping=False, training_batch_size=batch)  # fmt: skip


def gone(pid: int) -> bool:
    """No such process any more (a zombie nobody reaped counts as gone)."""
    return start_time(pid) is None


def wait_until(condition, what: str, timeout_s: float = WAIT_S, process=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the command ended first (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def epochs_in(trial_dir: Path) -> list[int]:
    path = trial_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines() if line]


def controller_token(run_dir: Path) -> str:
    return read_json(run_dir / "controller.pid").get("token", "")


class Processes:
    """What a test started; `stop_all` leaves nothing running."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen] = []
        self.tokens: set[str] = set()

    def automl(self, *args: str, log: str = "automl") -> subprocess.Popen:
        """The installed `automl` command, in its own session, output in LOG.out/.err."""
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        process = subprocess.Popen(
            [AUTOML, *map(str, args)],
            stdout=open(self.tmp_path / f"{log}.out", "wb"),  # noqa: SIM115  (closed at exit)
            stderr=open(self.tmp_path / f"{log}.err", "wb"),  # noqa: SIM115
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def spawn(self, command: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(command, start_new_session=True, **kwargs)
        self.started.append(process)
        return process

    def output(self, log: str) -> tuple[str, str]:
        read = lambda suffix: (self.tmp_path / f"{log}.{suffix}").read_text(errors="replace")  # noqa: E731
        return read("out"), read("err")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        for pid in marked_processes(self.tokens):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def processes(tmp_path):
    """Processes(tmp_path), stopped (with every marked child) when the test ends."""
    started = Processes(tmp_path)
    yield started
    started.stop_all()
