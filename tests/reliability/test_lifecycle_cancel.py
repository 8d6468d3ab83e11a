"""`automl job cancel` signals a job's controller only once controller.pid is verified to
name it (PID with start time, host and command line), and `automl job show` calls a job
whose controller is gone `interrupted`, not `running`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from lifecycle_support import AUTOML, gone, processes  # noqa: F401  (fixture)

from automl.engine.utils.processes import ProcessIdentity


def make_running_job(run_dir, controller_pid_text: str):
    """A run directory whose summary says running, with the given controller.pid."""
    run_dir.mkdir(parents=True)
    (run_dir / "job.yml").write_text("type: automl\n")
    summary = {"name": "job", "status": "running", "trials": [], "run_dir": str(run_dir)}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "controller.pid").write_text(controller_pid_text)
    return run_dir


def run_automl(*args) -> subprocess.CompletedProcess:
    return subprocess.run([AUTOML, *map(str, args)], capture_output=True, text=True, timeout=120)


def start_sleeper(processes):  # noqa: F811
    return processes.spawn([sys.executable, "-c", "import time; time.sleep(300)"])


def stale_record(pid: int) -> str:
    """The record of a controller that died and whose PID another process now holds."""
    identity = ProcessIdentity.current()
    return json.dumps({"pid": pid, "started": "another-start-time", "host": identity.host})


@pytest.mark.parametrize("record", ["stale start time", "bare pid"])
def test_cancel_never_signals_a_process_that_is_not_the_controller(
    tmp_path,
    processes,  # noqa: F811
    record,
):
    sleeper = start_sleeper(processes)
    text = stale_record(sleeper.pid) if record == "stale start time" else f"{sleeper.pid}\n"
    run_dir = make_running_job(tmp_path / "run", text)

    done = run_automl("job", "cancel", run_dir)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    expected = "is not running" if record == "stale start time" else "cannot be verified"
    assert expected in done.stderr
    assert sleeper.poll() is None  # untouched


@pytest.mark.parametrize("record", ["stale start time", "bare pid"])
def test_show_calls_a_job_whose_controller_is_gone_interrupted(
    tmp_path,
    processes,  # noqa: F811
    record,
):
    sleeper = start_sleeper(processes)  # holds the PID the dead controller had
    text = stale_record(sleeper.pid) if record == "stale start time" else f"{sleeper.pid}\n"
    run_dir = make_running_job(tmp_path / "run", text)
    done = run_automl("job", "show", run_dir, "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "interrupted"


def test_cancel_of_a_controller_on_another_host_says_where(tmp_path):
    record = {"pid": 4321, "started": "x", "host": "another-host.example"}
    run_dir = make_running_job(tmp_path / "run", json.dumps(record))
    done = run_automl("job", "cancel", run_dir)
    assert done.returncode == 1 and "runs on host another-host.example" in done.stderr


def test_cancel_stops_the_verified_controller(tmp_path, processes):  # noqa: F811
    sleeper = start_sleeper(processes)
    record = ProcessIdentity.of(sleeper.pid).to_json()
    run_dir = make_running_job(tmp_path / "run", json.dumps(record))
    done = run_automl("job", "cancel", run_dir)
    assert done.returncode == 0, done.stderr
    assert sleeper.wait(timeout=30) == -15 and gone(sleeper.pid)
