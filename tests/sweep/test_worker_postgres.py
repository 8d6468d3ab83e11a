"""Two sweep workers on one PostgreSQL study (fake trials): one budget, shared pruning,
a worker killed with -9 mid-trial (its trial stops too), and no credentials in any file
or log."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from pg_support import postgres_server  # noqa: F401  (session fixture)

from automl.engine.sweep.attrs import PID_ATTR
from automl.engine.sweep.storage import make_storage
from automl.engine.sweep.worker import study_summary
from automl.engine.utils.processes import start_time

WORKER_SCRIPT = Path(__file__).with_name("pg_worker_main.py")
# Short for the test, yet long enough for a launch on a loaded 2-core machine.
HEARTBEAT_ENV = {"AUTOML_HEARTBEAT_INTERVAL_S": "1", "AUTOML_HEARTBEAT_GRACE_S": "5"}


def _job(name: str, learning_rates: list[float], max_trials: int) -> dict:
    return {
        "mode": "sweep",
        "name": name,
        "user_training_parameters": {"number_of_epochs": 4},
        "resolved": {
            "limits": {"max_trials": max_trials, "max_concurrent_trials": 1},
            "sweep": {
                "sampling_algorithm": "random",
                "early_termination": {"type": "bandit", "slack_amount": 0.05},
            },
            "search_space": [{"learning_rate": {"type": "choice", "values": learning_rates}}],
        },
    }


def _start_worker(tmp_path, tag: str, job: dict, url: str, join: bool, **env) -> subprocess.Popen:
    config = tmp_path / f"{tag}.json"
    config.write_text(
        json.dumps(
            {
                "job": job,
                "run_dir": str(tmp_path / "run"),
                "data_dir": str(tmp_path / f"data-{tag}"),
                "join": join,
            }
        )
    )
    full_env = {**os.environ, "PYTHONPATH": str(WORKER_SCRIPT.parent), **HEARTBEAT_ENV, **env}
    full_env["PG_WORKER_STORAGE_URL"] = url  # not in the config file: no secret on disk
    full_env.setdefault("FAKE_TRIAL_EPOCH_S", "0.25")
    log = open(tmp_path / f"{tag}.log", "wb")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(
        [sys.executable, str(WORKER_SCRIPT), str(config)],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _trials(name: str, url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=make_storage(url)).trials
    except KeyError:
        return []


def _wait(condition, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, "the worker ended too early"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _finish(process: subprocess.Popen, timeout_s: float = 120) -> int:
    try:
        return process.wait(timeout_s)
    finally:
        if process.poll() is None:
            process.kill()


def test_two_workers_split_one_budget_and_prune_on_each_others_trials(
    postgres_server,  # noqa: F811
    tmp_path,
    cli,
):
    url, name = postgres_server.url, "shared-sweep"
    # Worker A only samples the good learning rate, worker B only a bad one: B's trials can
    # only be pruned by comparing them with A's (all of B's own scores are equal).
    first = _start_worker(tmp_path, "a", _job(name, [0.01], 6), url, join=False)
    complete = optuna.trial.TrialState.COMPLETE
    _wait(lambda: any(t.state == complete for t in _trials(name, url)), first)
    second = _start_worker(tmp_path, "b", _job(name, [1e-6], 6), url, join=True)
    assert _finish(second) == 0 and _finish(first) == 0

    trials = _trials(name, url)
    assert len(trials) == 6  # max_trials exactly, across both workers
    by_worker: dict[int, list] = {}
    for trial in trials:
        by_worker.setdefault(trial.user_attrs[PID_ATTR]["worker_pid"], []).append(trial)
    assert sorted(by_worker) == sorted([first.pid, second.pid])
    b_states = {t.state for t in by_worker[second.pid]}
    assert b_states == {optuna.trial.TrialState.PRUNED}
    assert {t.state for t in by_worker[first.pid]} == {complete}

    summary = study_summary(name, url)  # `job show --storage` from any machine
    assert summary["status"] == "completed" and summary["n_trials"] == 6
    assert summary["best_trial"]["params"] == {"learning_rate": 0.01}
    code, out, _ = cli(["job", "show", name, "--storage", url, "--output", "json"])
    assert code == 0 and json.loads(out)["n_trials"] == 6
    _assert_no_secret(tmp_path, postgres_server.password)
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert ":***@" in on_disk["storage"] and on_disk["status"] == "completed"


def _assert_no_secret(folder: Path, secret: str) -> None:
    """No file under `folder` (run directory, specs, trial logs, worker logs) has it."""
    checked = 0
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix not in (".png", ".pt"):
            assert secret not in path.read_text(errors="replace"), path
            checked += 1
    assert checked > 20


def test_a_worker_killed_mid_trial_loses_that_trial_and_the_other_completes(
    postgres_server,  # noqa: F811
    tmp_path,
):
    url, name = postgres_server.url, "killed-worker"
    job = _job(name, [0.01, 0.02], 4)
    # Worker A's trials hang after epoch 1, so it is surely killed in the middle of one.
    first = _start_worker(tmp_path, "a", job, url, join=False, FAKE_TRIAL_HANG="1")
    running = optuna.trial.TrialState.RUNNING
    _wait(lambda: any(t.intermediate_values for t in _trials(name, url)), first)
    second = _start_worker(tmp_path, "b", job, url, join=True)
    lost = next(t for t in _trials(name, url) if t.state == running)
    orphan = lost.user_attrs[PID_ATTR]["pid"]
    first.send_signal(signal.SIGKILL)
    first.wait()
    try:
        # A's trial stops by itself: it notices its worker is gone (engine/utils/processes.py)
        deadline = time.monotonic() + 30
        while start_time(orphan) is not None:
            assert time.monotonic() < deadline, "the killed worker's trial lives on"
            time.sleep(0.1)
        assert _finish(second) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orphan, signal.SIGKILL)

    trials = {t.number: t for t in _trials(name, url)}
    assert trials[lost.number].state == optuna.trial.TrialState.FAIL
    error = trials[lost.number].user_attrs["automl_outcome"]["error"]
    assert error.startswith("worker lost: no heartbeat for more than 5 s")
    others = [t for n, t in trials.items() if n != lost.number]
    assert len(others) == 4  # the lost trial's place went to another trial
    assert {t.user_attrs[PID_ATTR]["worker_pid"] for t in others} == {second.pid}
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in others)
    summary = study_summary(name, url)
    assert summary["status"] == "completed"
    assert [r["state"] for r in summary["trials"]].count("failed") == 1


@pytest.mark.parametrize("broken", ["missing", "read-only"])
def test_a_worker_refuses_a_run_directory_it_cannot_use(tmp_path, broken):
    from automl.engine.errors import AutomlError
    from automl.engine.sweep.worker import check_shared_run_dir

    folder = tmp_path / "run"
    if broken == "read-only":
        (folder / "trials").mkdir(parents=True)
        (folder / "job_source.json").write_text("{}")
        (folder / "trials").chmod(0o500)
        if os.access(folder / "trials", os.W_OK):  # root ignores modes
            pytest.skip("running as root: permissions are not enforced")
    with pytest.raises(AutomlError, match="run directory") as caught:
        check_shared_run_dir(folder, "/mnt/shared/run")
    assert "storage every worker reaches" in caught.value.hint
