"""What a resumed job does with the trials its stopped controller left (recovery.py), and
finding those left-overs (processes.py), with the fake trial runner."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from automl.engine.errors import CanceledError
from automl.engine.sweep.processes import left_by_dead_controller, stop_leftovers
from automl.engine.utils.processes import CONTROLLER_ENV, ProcessIdentity, start_time

GRID = [{"learning_rate": {"type": "choice", "values": [0.01, 0.02, 0.03]}}]


def trial_file(run_dir: Path, number: int, name: str) -> Path:
    return run_dir / "trials" / str(number) / name


def fake_checkpoint(run_dir: Path, number: int) -> None:
    """What a real trial leaves after an epoch (the fake trial writes none)."""
    path = trial_file(run_dir, number, "checkpoints/last.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a checkpoint")


def wait_for(condition, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_interrupted_trial_runs_again_under_its_number(
    run, data, tmp_path, sweep_job, monkeypatch
):
    run_dir = tmp_path / "run"
    job = sweep_job(GRID, {"sampling_algorithm": "grid"}, max_trials=2)
    config = tmp_path / "controller.json"
    config.write_text(json.dumps({"job": vars(job), "run_dir": str(run_dir), "data_dir": "d"}))
    script = Path(__file__).with_name("controller_main.py")
    env = {**os.environ, "PYTHONPATH": str(script.parent), "FAKE_TRIAL_HANG": "1"}
    controller = subprocess.Popen([sys.executable, str(script), str(config)], env=env, cwd=tmp_path)
    try:
        wait_for(lambda: trial_file(run_dir, 0, "metrics.jsonl").exists())
        trial_pid = json.loads(trial_file(run_dir, 0, "timing.json").read_text())["pid"]
    finally:
        controller.kill()
        controller.wait()
    wait_for(lambda: start_time(trial_pid) is None)  # it stopped by itself
    fake_checkpoint(run_dir, 0)

    summary = run(job, run_dir, data, resume=True)
    states = [(t["number"], t["state"]) for t in summary["trials"]]
    assert states == [(0, "complete"), (1, "complete")]
    assert json.loads(trial_file(run_dir, 0, "spec.json").read_text())["resume"] is True
    assert json.loads(trial_file(run_dir, 1, "spec.json").read_text())["resume"] is False


def test_a_canceled_trial_is_continued_by_a_new_trial_on_its_grid_point(
    run, data, tmp_path, sweep_job, monkeypatch
):
    monkeypatch.setenv("FAKE_TRIAL_EPOCH_S", "0.3")
    run_dir = tmp_path / "run"
    job = sweep_job(GRID, {"sampling_algorithm": "grid"}, max_trials=3)
    cancel = threading.Event()

    def on_event(event):
        if event["type"] == "trial_progress":
            cancel.set()

    with pytest.raises(CanceledError):
        run(job, run_dir, data, on_event=on_event, cancel_event=cancel)
    fake_checkpoint(run_dir, 0)
    (trial_file(run_dir, 0, "outputs")).mkdir(exist_ok=True)

    summary = run(job, run_dir, data, resume=True)
    rows = {t["number"]: t for t in summary["trials"]}
    assert rows[0]["state"] == "canceled" and "continues" not in rows[0]
    assert rows[1]["continues"] == 0 and rows[1]["params"] == rows[0]["params"]
    assert sorted(t["params"]["learning_rate"] for t in rows.values() if t["number"]) == [
        0.01,
        0.02,
        0.03,
    ]
    assert [t["state"] for n, t in sorted(rows.items()) if n] == ["complete"] * 3
    assert json.loads(trial_file(run_dir, 1, "spec.json").read_text())["resume"] is True
    assert trial_file(run_dir, 1, "checkpoints/last.pt").read_bytes() == b"a checkpoint"

    again = run(job, run_dir, data, resume=True)  # continued once, never twice
    assert again["n_trials"] == summary["n_trials"]


def test_left_trials_are_those_of_dead_controllers():
    alive = ProcessIdentity.current().token
    dead = f"1:not-its-start@{socket.gethostname()}"
    here = {"host": socket.gethostname()}
    assert not left_by_dead_controller({**here, "controller": alive}, heartbeats=False)
    assert left_by_dead_controller({**here, "controller": dead}, heartbeats=False)
    assert left_by_dead_controller({}, heartbeats=True)  # a record of an older version
    elsewhere = {"host": "another-host", "controller": dead}
    assert not left_by_dead_controller(elsewhere, heartbeats=True)  # the heartbeat decides
    assert left_by_dead_controller(elsewhere, heartbeats=False)


def test_left_overs_are_found_by_their_marker_not_their_command_line(tmp_path, monkeypatch):
    """A standby runs its trial without the spec path on its command line."""
    monkeypatch.setattr("automl.engine.utils.processes.STOP_GRACE_S", 0.5)
    token = f"1:a-dead-controller@{socket.gethostname()}"
    ready = tmp_path / "ready"
    stubborn = (  # ignores SIGTERM: only a SIGKILL stops it
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "open(sys.argv[1], 'w').close(); time.sleep(300)"
    )
    env = {**os.environ, CONTROLLER_ENV: token}
    marked = subprocess.Popen([sys.executable, "-c", stubborn, str(ready)], env=env)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        wait_for(ready.exists)
        assert stop_leftovers([token]) == [marked.pid]
        assert marked.wait(timeout=30) == -signal.SIGKILL  # after SIGTERM was ignored
        assert other.poll() is None
    finally:
        for process in (marked, other):
            process.kill()
            process.wait()
