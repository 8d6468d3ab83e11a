"""Standby trial processes: started ahead, handed a trial, never deciding its fate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sweep_stubs import FAKE_TRIAL

from automl.engine.sweep.standby import STANDBY_ENV, StandbyPool
from automl.engine.trials import cpu_threads_per_slot, slot_variables

STANDBY_MODULE = "automl.engine.sweep.standby"
CPU_SLOT = slot_variables("", 1)

TARGET = """
import json, os, sys, time
from pathlib import Path

def preload():
    Path(__file__).with_name("preloaded").write_text(str(time.time()))

if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    print("trial output on stdout", flush=True)
    print("trial output on stderr", file=sys.stderr, flush=True)
    seen = {"argv": sys.argv, "env": os.environ.get("STANDBY_TEST"),
            "home": os.environ.get("STANDBY_PARENT_ONLY"), "pid": os.getpid()}
    Path(spec["out"]).write_text(json.dumps(seen))
    sys.exit(spec.get("code", 0))
"""


@pytest.fixture
def target(tmp_path) -> Path:
    path = tmp_path / "target.py"
    path.write_text(textwrap.dedent(TARGET))
    return path


def wait_for(condition, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "\nState:\tZ" in status.read_text()


def order(tmp_path: Path, code: int = 0) -> Path:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"out": str(tmp_path / "seen.json"), "code": code}))
    return spec


def test_handed_trial_runs_with_its_env_log_and_exit_code(tmp_path, target, monkeypatch):
    monkeypatch.setenv("STANDBY_PARENT_ONLY", "from the controller")
    pool = StandbyPool(str(target), enabled=True)
    pool.prestart(CPU_SLOT)
    wait_for((tmp_path / "preloaded").exists)  # imports done before the trial exists
    log = tmp_path / "trial.log"
    env = {**CPU_SLOT, "STANDBY_TEST": "yes"}
    process = pool.hand_over(order(tmp_path, code=3), log, env)
    assert process is not None and process.wait(timeout=20) == 3
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["argv"] == [str(target), str(tmp_path / "spec.json")]
    assert seen["env"] == "yes" and seen["home"] is None  # the trial's env, exactly
    assert seen["pid"] == process.pid
    assert "on stdout" in log.read_text() and "on stderr" in log.read_text()
    assert pool.idle == []


def test_a_dead_standby_is_skipped(tmp_path, target):
    pool = StandbyPool(str(target), enabled=True)
    pool.prestart(CPU_SLOT)
    pool.idle[0][0].kill()
    pool.idle[0][0].wait()
    assert pool.hand_over(order(tmp_path), tmp_path / "trial.log", CPU_SLOT) is None
    assert pool.idle == []


def test_a_standby_takes_only_trials_of_its_slot(tmp_path, target):
    """CUDA_VISIBLE_DEVICES and thread counts act before the hand-over: a standby started
    for GPU 1 must not run a trial meant for GPU 0."""
    pool = StandbyPool(str(target), enabled=True)
    with pool:
        pool.prestart(slot_variables("1", 4))
        assert pool.hand_over(order(tmp_path), tmp_path / "l", slot_variables("0", 4)) is None
        assert len(pool.idle) == 1  # still waiting for a GPU-1 trial
        process = pool.hand_over(order(tmp_path), tmp_path / "l", slot_variables("1", 4))
        assert process is not None and process.wait(timeout=20) == 0


def test_retain_stops_standbys_of_other_slots(tmp_path, target):
    """A standby started before the job was read (one CPU slot) is stopped once the job
    asks for two slots with half the threads each."""
    with StandbyPool(str(target), max_idle=2, enabled=True) as pool:
        pool.prestart(slot_variables("", 2))
        pool.prestart(slot_variables("", 1))
        early = pool.idle[0][0]
        pool.retain([slot_variables("", 1)])
        assert len(pool.idle) == 1 and early.poll() is not None


def test_close_stops_idle_standbys_and_off_means_none(tmp_path, target, monkeypatch):
    pool = StandbyPool(str(target), max_idle=2, enabled=True)
    pool.prestart(CPU_SLOT)
    pool.prestart(CPU_SLOT)
    pool.prestart(CPU_SLOT)  # max_idle caps it
    pids = [process.pid for process, _ in pool.idle]
    assert len(pids) == 2
    pool.close()
    assert all(gone(pid) for pid in pids) and pool.idle == []
    monkeypatch.setenv(STANDBY_ENV, "0")
    off = StandbyPool(str(target))
    off.prestart(CPU_SLOT)
    assert off.idle == [] and off.hand_over(order(tmp_path), tmp_path / "l", CPU_SLOT) is None


def test_standby_ends_when_its_controller_dies(tmp_path, target):
    script = (
        "import os, sys\n"
        "from automl.engine.sweep.standby import StandbyPool\n"
        f"pool = StandbyPool({str(target)!r}, enabled=True)\n"
        "pool.prestart({})\n"
        "print(pool.idle[0][0].pid, flush=True)\n"
        "os._exit(9)  # no close(): as if killed\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    pid = int(result.stdout.strip())
    wait_for(lambda: gone(pid))  # its stdin closed: no trial will come
    assert not (tmp_path / "seen.json").exists()


def test_sweep_trials_after_the_first_run_in_standbys(run, data, tmp_path, sweep_job):
    space = [{"learning_rate": {"type": "choice", "values": [0.01, 0.02, 0.03]}}]
    job = sweep_job(space, {"sampling_algorithm": "grid"}, max_trials=3)
    summary = run(job, tmp_path / "run", data)
    assert [t["state"] for t in summary["trials"]] == ["complete"] * 3
    argvs = [
        json.loads((tmp_path / "run" / "trials" / str(n) / "timing.json").read_text())["orig_argv"]
        for n in range(3)
    ]
    assert [STANDBY_MODULE in argv for argv in argvs] == [False, True, True]
    logs = [(tmp_path / "run" / "trials" / str(n) / "trial.log") for n in range(3)]
    assert all(log.exists() for log in logs)


def test_a_pool_started_early_runs_the_first_trial(run, data, tmp_path, sweep_job):
    """What `automl job create` does: the first trial's process starts before the job is
    even validated."""
    pool = StandbyPool(FAKE_TRIAL, enabled=True)
    pool.prestart(slot_variables("", cpu_threads_per_slot(1)))  # the one CPU slot
    job = sweep_job([{"learning_rate": {"type": "choice", "values": [0.01]}}], {}, max_trials=1)
    with pool:
        summary = run(job, tmp_path / "run", data, standby=pool)
    timing = json.loads((tmp_path / "run" / "trials" / "0" / "timing.json").read_text())
    assert summary["trials"][0]["state"] == "complete" and STANDBY_MODULE in timing["orig_argv"]


def test_standby_off_starts_every_trial_fresh(run, data, tmp_path, sweep_job, monkeypatch):
    monkeypatch.setenv(STANDBY_ENV, "0")
    space = [{"learning_rate": {"type": "choice", "values": [0.01, 0.02]}}]
    run(sweep_job(space, {"sampling_algorithm": "grid"}, max_trials=2), tmp_path / "run", data)
    for n in range(2):
        timing = json.loads((tmp_path / "run" / "trials" / str(n) / "timing.json").read_text())
        assert STANDBY_MODULE not in timing["orig_argv"]


def test_standby_still_importing_ends_when_its_controller_dies(tmp_path):
    """A standby is killed with its controller even before it reads its stdin (its
    imports take seconds): the parent-death signal, or its watch of the controller."""
    slow = tmp_path / "slow_target.py"
    slow.write_text("import time\n\ndef preload():\n    time.sleep(300)\n")
    script = (
        "import os\n"
        "from automl.engine.sweep.standby import StandbyPool\n"
        f"pool = StandbyPool({str(slow)!r}, enabled=True)\n"
        "pool.prestart({})\n"
        "print(pool.idle[0][0].pid, flush=True)\n"
        "os._exit(9)  # no close(): as if killed\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    pid = int(result.stdout.strip())
    try:
        wait_for(lambda: gone(pid), timeout_s=30)
    finally:
        if not gone(pid):
            os.kill(pid, 9)
