"""How a job ends when it is told to stop or a trial is killed: SIGINT/SIGHUP of the
controller cancel the job (trials and standby processes stopped, summary `canceled`, exit
130); a trial killed by SIGKILL, as the out-of-memory killer does, fails with a clear
one-line reason and no traceback."""

from __future__ import annotations

import os
import signal

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


def start_long_job(processes, tmp_path, max_trials: int):  # noqa: F811
    run_dir = tmp_path / "run"
    job = write_job(tmp_path, epochs=300, max_trials=max_trials, batch=8)
    controller = processes.automl("job", "create", "--file", job, "--run-dir", run_dir)
    trial_dir = run_dir / "trials" / "0"
    wait_until(lambda: epochs_in(trial_dir), "trial 0's first epoch", process=controller)
    processes.tokens.add(controller_token(run_dir))
    return controller, run_dir, trial_dir


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_a_signal_to_the_controller_cancels_the_job(tmp_path, processes, sig):  # noqa: F811
    controller, run_dir, trial_dir = start_long_job(processes, tmp_path, max_trials=2)
    token = controller_token(run_dir)
    trial_pid = read_json(trial_dir / "status.json")["pid"]
    assert len(marked_processes([token])) >= 2  # trial 0, and a standby for trial 1

    os.kill(controller.pid, sig)
    assert controller.wait(timeout=120) == 130
    summary = read_json(run_dir / "summary.json")
    assert summary["status"] == "canceled"
    assert [t["state"] for t in summary["trials"]] == ["canceled"]
    assert gone(trial_pid) and not marked_processes([token])
    _, err = processes.output("automl")
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_trial_killed_like_the_oom_killer_fails_with_a_clear_reason(tmp_path, processes):  # noqa: F811
    controller, run_dir, trial_dir = start_long_job(processes, tmp_path, max_trials=1)
    os.kill(read_json(trial_dir / "status.json")["pid"], signal.SIGKILL)
    assert controller.wait(timeout=120) == 1
    (trial,) = read_json(run_dir / "summary.json")["trials"]
    assert trial["state"] == "failed"
    assert "out-of-memory killer" in trial["error"] and "training_batch_size" in trial["error"]
    _, err = processes.output("automl")
    assert "Traceback" not in err and "out-of-memory killer" in err
