"""Nothing a job started outlives its controller: after `kill -9` of `automl job create`,
its trial (even one running in a pre-started standby process), the standby waiting for
the next trial, and a torchrun launcher with its ranks all stop within seconds."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import pytest
from lifecycle_support import (  # noqa: F401  (fixture)
    controller_token,
    epochs_in,
    gone,
    processes,
    read_json,
    wait_until,
    write_job,
)

from automl.engine.utils.processes import marked_processes

STOP_S = 30  # "within seconds", with room for a loaded 2-core machine


@pytest.mark.slow
def test_trial_and_standby_stop_when_the_controller_is_killed(tmp_path, processes):  # noqa: F811
    run_dir = tmp_path / "run"
    job = write_job(tmp_path, epochs=300, max_trials=2, batch=8)
    controller = processes.automl("job", "create", "--file", job, "--run-dir", run_dir)
    trial_dir = run_dir / "trials" / "0"
    wait_until(lambda: epochs_in(trial_dir), "trial 0's first epoch", process=controller)
    token = controller_token(run_dir)
    processes.tokens.add(token)
    trial_pid = read_json(trial_dir / "status.json")["pid"]
    marked = marked_processes([token])
    # the trial (in the standby started with the job: no spec path on its command line)
    # and the standby started for trial 1
    assert trial_pid in marked and len(marked) >= 2

    os.kill(controller.pid, signal.SIGKILL)
    controller.wait()
    wait_until(lambda: not marked_processes([token]), "the job's processes to stop", STOP_S)
    assert gone(trial_pid)
    assert read_json(trial_dir / "result.json")["state"] == "canceled"
    assert (trial_dir / "checkpoints" / "last.pt").is_file()
    assert "is gone: stopping" in (trial_dir / "trial.log").read_text()


RANK = """
import os, sys, time
from pathlib import Path
from automl.engine.utils.processes import stop_when_controller_gone
stop_when_controller_gone()
Path(sys.argv[1], os.environ["RANK"]).write_text(str(os.getpid()))
time.sleep(300)
"""

CONTROLLER = """
import os, subprocess, sys, time
from pathlib import Path
from automl.engine.trials import torchrun_command
from automl.engine.utils.processes import controller_marker
env = {**os.environ, **controller_marker()}
launcher = subprocess.Popen(
    torchrun_command([sys.argv[1], sys.argv[2]], 2), env=env, start_new_session=True
)
Path(sys.argv[2], "launcher").write_text(str(launcher.pid))
Path(sys.argv[2], "token").write_text(controller_marker()["AUTOML_CONTROLLER"])
time.sleep(300)
"""


@pytest.mark.slow
def test_torchrun_and_its_ranks_stop_when_the_controller_is_killed(tmp_path, processes):  # noqa: F811
    """A distributed trial is torchrun plus one process per rank, each in its own session:
    they all go with the controller."""
    rank = tmp_path / "rank.py"
    rank.write_text(textwrap.dedent(RANK))
    out = tmp_path / "out"
    out.mkdir()
    controller = processes.spawn([sys.executable, "-c", CONTROLLER, str(rank), str(out)])
    found = lambda: all((out / name).exists() for name in ("launcher", "token", "0", "1"))  # noqa: E731
    wait_until(found, "torchrun's two ranks", process=controller)
    processes.tokens.add((out / "token").read_text())
    pids = [int((out / name).read_text()) for name in ("launcher", "0", "1")]

    os.kill(controller.pid, signal.SIGKILL)
    controller.wait()
    wait_until(lambda: all(gone(pid) for pid in pids), "torchrun and its ranks to stop", STOP_S)
