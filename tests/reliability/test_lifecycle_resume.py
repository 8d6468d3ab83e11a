"""Nothing a trial did is lost on a crash: `automl job resume` first stops whatever the
killed controller left running, then continues an interrupted trial from its last epoch
checkpoint (same number, same parameters, metrics kept), as Ultralytics' `resume` does;
a trial the storage already finished (canceled) is continued by a new, linked trial."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from _support.jobs import write_job as job_file
from lifecycle_support import (  # noqa: F401  (fixture)
    controller_token,
    epochs_in,
    gone,
    processes,
    read_json,
    wait_until,
    write_job,
)

from automl.engine.utils.processes import CONTROLLER_ENV

# A left-over that ignores SIGTERM and does not watch its controller: only resume stops it.
STUBBORN = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "open(sys.argv[1], 'w').close(); time.sleep(300)"
)


def metrics_lines(trial_dir: Path) -> list[str]:
    return (trial_dir / "metrics.jsonl").read_text().splitlines()


def kill_mid_trial(processes, run_dir: Path, job: Path, min_epochs: int, how=signal.SIGKILL):  # noqa: F811
    """Start `automl job create`, stop it with `how` once trial 0 has `min_epochs`."""
    controller = processes.automl("job", "create", "--file", job, "--run-dir", run_dir)
    trial_dir = run_dir / "trials" / "0"
    enough = lambda: len(epochs_in(trial_dir)) >= min_epochs  # noqa: E731
    wait_until(enough, "trial 0's epochs", process=controller)
    processes.tokens.add(controller_token(run_dir))
    trial_pid = read_json(trial_dir / "status.json")["pid"]
    os.kill(controller.pid, how)
    controller.wait(timeout=120)
    return controller, trial_dir, trial_pid


def resume(processes, run_dir: Path) -> tuple[int, dict, str]:  # noqa: F811
    command = processes.automl("job", "resume", run_dir, "-o", "json", log="resume")
    code = command.wait(timeout=600)
    out, err = processes.output("resume")
    return code, json.loads(out or "{}"), err


@pytest.mark.slow
def test_resume_stops_left_overs_and_continues_the_trial_under_its_number(
    tmp_path,
    processes,  # noqa: F811
):
    run_dir, n_epochs = tmp_path / "run", 6
    job = write_job(tmp_path, epochs=n_epochs)
    _, trial_dir, trial_pid = kill_mid_trial(processes, run_dir, job, min_epochs=2)
    ready = tmp_path / "ready"
    env = {**os.environ, CONTROLLER_ENV: controller_token(run_dir)}
    left_over = processes.spawn([sys.executable, "-c", STUBBORN, str(ready)], env=env)
    wait_until(ready.exists, "the left-over process")
    wait_until(lambda: gone(trial_pid), "the trial to stop by itself", 60)
    before = metrics_lines(trial_dir)

    code, summary, err = resume(processes, run_dir)
    assert code == 0, err
    assert left_over.poll() is not None and "left running" in err
    assert summary["status"] == "completed" and summary["n_trials"] == 1
    (trial,) = summary["trials"]
    assert trial["number"] == 0 and trial["state"] == "complete"
    assert trial["epochs_completed"] == n_epochs
    assert epochs_in(trial_dir) == list(range(1, n_epochs + 1))
    assert metrics_lines(trial_dir)[: len(before)] == before  # the first epochs kept, not rerun
    assert read_json(trial_dir / "spec.json")["resume"] is True
    assert f"continuing at epoch {len(before) + 1}" in (trial_dir / "trial.log").read_text()


@pytest.mark.slow
def test_a_canceled_trial_is_continued_by_a_new_linked_trial(tmp_path, processes):  # noqa: F811
    run_dir, n_epochs = tmp_path / "run", 6
    job = write_job(tmp_path, epochs=n_epochs)
    controller, trial_dir, _ = kill_mid_trial(processes, run_dir, job, 2, how=signal.SIGTERM)
    assert controller.returncode == 130
    before = metrics_lines(trial_dir)

    code, summary, err = resume(processes, run_dir)
    assert code == 0, err
    rows = {row["number"]: row for row in summary["trials"]}
    assert rows[0]["state"] == "canceled"
    assert rows[1]["state"] == "complete" and rows[1]["continues"] == 0
    assert rows[1]["epochs_completed"] == n_epochs
    assert metrics_lines(run_dir / "trials" / "1")[: len(before)] == before
    assert summary["best_trial"]["number"] == 1


@pytest.mark.slow
def test_a_yolo_trial_continues_from_ultralytics_last_pt(tmp_path, processes, monkeypatch):  # noqa: F811
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics_config"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    job = job_file(tmp_path, "image_object_detection", model="test_tiny_yolo", epochs=3)
    run_dir = tmp_path / "run"
    _, trial_dir, trial_pid = kill_mid_trial(processes, run_dir, job, min_epochs=1)
    wait_until(lambda: gone(trial_pid), "the trial to stop by itself", 60)
    before = metrics_lines(trial_dir)

    code, summary, err = resume(processes, run_dir)
    assert code == 0, err
    assert [(t["number"], t["state"]) for t in summary["trials"]] == [(0, "complete")]
    assert epochs_in(trial_dir) == [1, 2, 3]
    assert metrics_lines(trial_dir)[: len(before)] == before
    assert f"continuing at epoch {len(before) + 1}" in (trial_dir / "trial.log").read_text()
