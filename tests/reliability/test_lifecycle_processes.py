"""Process identities (PID + start time + host), the environment marker that names a
controller's children, and a child that stops when its controller is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from automl.engine.utils.processes import (
    CONTROLLER_ENV,
    ProcessIdentity,
    marked_processes,
    send_signal_verified,
    start_time,
    stop_when_controller_gone,
)

CHILD = """
import logging, os, sys, time
from automl.engine.utils.processes import stop_when_controller_gone
logging.basicConfig(filename=os.environ["WATCH_LOG"])
assert stop_when_controller_gone(interval_s=0.1, then="what to do next")
print("watching", flush=True)
time.sleep(300)
"""


def wait_gone(pid: int, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    return start_time(pid) is None


def test_identity_tells_a_reused_pid_apart():
    me = ProcessIdentity.current()
    assert me.is_alive() and me.started
    assert ProcessIdentity.from_token(me.token) == me
    assert ProcessIdentity.from_json(me.to_json()) == me
    assert not ProcessIdentity(me.pid, "another start", me.host).is_alive()
    assert not ProcessIdentity(me.pid, me.started, "another-host").is_alive()
    assert ProcessIdentity.from_token("garbage") is None


def test_a_stale_identity_is_never_signalled():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        live = ProcessIdentity.of(sleeper.pid)
        stale = ProcessIdentity(sleeper.pid, "the start of a process long gone", live.host)
        assert not send_signal_verified(stale, signal.SIGTERM)
        assert sleeper.poll() is None
        assert send_signal_verified(live, signal.SIGTERM)
        assert sleeper.wait(timeout=30) == -signal.SIGTERM
    finally:
        sleeper.kill()
        sleeper.wait()


def test_marked_children_are_found_and_stop_with_their_controller(tmp_path):
    """A stand-in controller starts a marked child and dies by SIGKILL: the child is found
    by its marker and stops by itself."""
    starter = (
        "import os, subprocess, sys\n"
        "from automl.engine.utils.processes import controller_marker\n"
        "env = {**os.environ, **controller_marker()}\n"
        "child = subprocess.Popen([sys.executable, '-c', sys.argv[1]], env=env,"
        " stdout=subprocess.PIPE, start_new_session=True)\n"
        "child.stdout.readline()\n"
        "print(child.pid, controller_marker()['AUTOML_CONTROLLER'], flush=True)\n"
        "import time; time.sleep(300)\n"
    )
    log = tmp_path / "child.log"
    controller = subprocess.Popen(
        [sys.executable, "-c", starter, CHILD],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "WATCH_LOG": str(log)},
    )
    pid_text, token = controller.stdout.readline().split()
    child = int(pid_text)
    try:
        assert marked_processes([token]) == [child]
        controller.kill()
        controller.wait()
        assert wait_gone(child)
        assert marked_processes([token]) == []
        assert "is gone: stopping; what to do next" in log.read_text()
    finally:
        controller.kill()
        if start_time(child) is not None:
            os.kill(child, signal.SIGKILL)


def test_no_controller_no_watch(monkeypatch):
    monkeypatch.delenv(CONTROLLER_ENV, raising=False)
    assert stop_when_controller_gone() is False
