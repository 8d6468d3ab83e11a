import json
import subprocess
import sys

import pytest

from automl.engine.errors import AutomlError, UsageError
from automl.engine.runs.rundir import (
    cancel_run,
    check_job_name,
    controller_alive,
    create_run_dir,
    find_run_dir,
    list_runs,
    read_summary,
    write_controller_pid,
)
from automl.engine.utils.processes import ProcessIdentity


def make_run(root, name, status="completed", started="2026-01-01T00:00:00"):
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "job.yml").write_text("type: automl\n")
    summary = {
        "name": name,
        "task": "image_classification",
        "status": status,
        "trials": [{"number": 0}],
        "best_trial": {"score": 0.5},
        "started_at": started,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_create_run_dir_refuses_an_existing_job(tmp_path):
    run_dir = make_run(tmp_path, "old")
    with pytest.raises(AutomlError, match="already holds a job") as info:
        create_run_dir(run_dir)
    assert "automl job resume" in str(info.value)


def test_create_run_dir_makes_new_folder(tmp_path):
    assert create_run_dir(tmp_path / "a" / "b").is_dir()


def test_find_run_dir_by_name_and_by_path(tmp_path):
    run_dir = make_run(tmp_path / "runs", "job1")
    assert find_run_dir("job1", tmp_path / "runs") == run_dir.resolve()
    assert find_run_dir(str(run_dir), tmp_path / "elsewhere") == run_dir.resolve()


def test_find_run_dir_unknown_lists_known_jobs(tmp_path):
    make_run(tmp_path / "runs", "job1")
    with pytest.raises(AutomlError, match="no job named") as info:
        find_run_dir("jbo1", tmp_path / "runs")
    assert "job1" in str(info.value)


def test_list_runs_newest_first(tmp_path):
    make_run(tmp_path, "older", started="2026-01-01T00:00:00")
    make_run(tmp_path, "newer", started="2026-02-01T00:00:00")
    (tmp_path / "not_a_run").mkdir()
    names = [run["name"] for run in list_runs(tmp_path)]
    assert names == ["newer", "older"]


def test_running_summary_without_live_controller_reads_interrupted(tmp_path):
    run_dir = make_run(tmp_path, "dead", status="running")
    (run_dir / "controller.pid").write_text("999999999\n")
    assert read_summary(run_dir)["status"] == "interrupted"


def test_controller_pid_liveness(tmp_path):
    write_controller_pid(tmp_path)
    assert controller_alive(tmp_path)
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    (tmp_path / "controller.pid").write_text(f"{process.pid}\n")
    assert not controller_alive(tmp_path)


def test_cancel_run_signals_the_controller(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # a record as write_controller_pid writes it: PID, start time, host
        record = ProcessIdentity.of(sleeper.pid).to_json()
        (tmp_path / "controller.pid").write_text(json.dumps(record))
        stopped = cancel_run(tmp_path, wait_s=0)
        sleeper.wait(timeout=10)
        assert sleeper.returncode == -15 and stopped in (True, False)
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_cancel_run_of_stopped_job_is_an_error(tmp_path):
    with pytest.raises(AutomlError, match="is not running"):
        cancel_run(tmp_path)


def test_job_names():
    assert check_job_name("my-job_1.2") == "my-job_1.2"
    with pytest.raises(UsageError):
        check_job_name("../escape")
