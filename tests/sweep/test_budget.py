"""A budget that runs out is a result: when `limits.timeout_minutes` ends a job, a running
trial's best epoch so far counts (complete, `stopped_by: budget`) and the job completes
with it; with no evaluated epoch at all the job fails and says to raise the timeout.

The job's clock is the controller's `_elapsed_minutes`: the tests stop it at a chosen
point of the trial (its first epoch's package written, or the trial started) so that
nothing depends on how fast this machine is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automl.engine.sweep.controller import SweepController
from automl.engine.sweep.outcome import ended_by, final_status, finished_note
from automl.engine.trials import STOPPED_BY_BUDGET, TrialResult

LR_SPACE = [{"learning_rate": {"type": "choice", "values": [0.01]}}]


def stop_clock_when(monkeypatch, condition) -> None:
    """The job's time runs out as soon as `condition(run_dir)` holds."""

    def elapsed(self: SweepController) -> float:
        return 1e9 if condition(self.session.run_dir) else 0.0

    monkeypatch.setattr(SweepController, "_elapsed_minutes", elapsed)


def first_package_written(run_dir: Path) -> bool:
    return (run_dir / "trials" / "0" / "outputs" / "labels.json").is_file()


def test_timeout_after_an_evaluated_epoch_completes_with_that_model(
    run, data, tmp_path, sweep_job, monkeypatch
):
    monkeypatch.setenv("FAKE_TRIAL_HANG", "1")  # sleeps after epoch 1: cut mid-training
    stop_clock_when(monkeypatch, first_package_written)
    job = sweep_job(LR_SPACE, {"sampling_algorithm": "grid"}, max_trials=1, timeout_minutes=1)
    job.user_training_parameters = {"number_of_epochs": 50}
    summary = run(job, tmp_path / "run", data)
    assert summary["status"] == "completed" and summary["error"] is None
    assert summary["ended_by"] == "timeout"
    (trial,) = summary["trials"]
    assert trial["state"] == "complete" and trial["stopped_by"] == STOPPED_BY_BUDGET
    assert trial["score"] == pytest.approx(0.45) and trial["epochs_completed"] == 1
    assert summary["best_trial"]["number"] == 0
    assert summary["best_trial"]["stopped_by"] == STOPPED_BY_BUDGET
    assert (tmp_path / "run" / "best_model" / "labels.json").is_file()
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["ended_by"] == "timeout"


def test_timeout_before_any_evaluated_epoch_fails_and_says_raise_it(
    run, data, tmp_path, sweep_job, monkeypatch
):
    monkeypatch.setenv("FAKE_TRIAL_EPOCH_S", "30")  # the first epoch never ends in time
    started = lambda run_dir: (run_dir / "trials" / "0" / "timing.json").is_file()  # noqa: E731
    stop_clock_when(monkeypatch, started)
    job = sweep_job(LR_SPACE, {"sampling_algorithm": "grid"}, max_trials=1, timeout_minutes=1)
    summary = run(job, tmp_path / "run", data)
    assert summary["status"] == "failed" and summary["ended_by"] == "timeout"
    assert "raise limits.timeout_minutes" in summary["error"]
    assert "\n" not in summary["error"]
    (trial,) = summary["trials"]
    assert trial["state"] == "canceled" and "stopped_by" not in trial
    assert summary["best_trial"] is None and not (tmp_path / "run" / "best_model").exists()


def test_a_job_that_runs_its_trials_ends_by_trials(run, data, tmp_path, sweep_job):
    job = sweep_job(LR_SPACE, {"sampling_algorithm": "grid"}, max_trials=1)
    summary = run(job, tmp_path / "run", data)
    assert summary["status"] == "completed" and summary["ended_by"] == "trials"
    assert "stopped_by" not in summary["trials"][0]


# ---- the rules, one by one ------------------------------------------------------------


def row(state: str, score: float | None = None) -> dict:
    return {"number": 0, "state": state, "score": score, "error": None}


def test_final_status_of_a_timed_out_job():
    timeout = ("timeout", "the job's limits.timeout_minutes (5) was reached")
    assert final_status([row("complete", 0.9)], timeout) == ("completed", None)
    status, error = final_status([row("canceled")], timeout)
    assert status == "failed" and error.startswith(timeout[1])
    assert "before any trial evaluated an epoch" in error
    assert final_status([], ("canceled", "x")) == ("canceled", "x")


def test_ended_by_and_the_last_line():
    assert ended_by(None) == "trials" and ended_by(("timeout", "m")) == "timeout"
    note = finished_note("timeout", "completed", {"number": 3, "score": 0.91})
    assert "timeout_minutes ended it" in note and "trial 3" in note
    assert finished_note("trials", "completed", {"number": 3, "score": 0.9}) == ""
    assert finished_note("timeout", "failed", {}) == ""


def test_trial_result_reads_records_without_stopped_by():
    old = {"version": 1, "state": "complete", "score": 0.5}
    assert TrialResult.from_dict(old).stopped_by is None
    legacy = {"state": "complete", "score": 0.5}  # before versions
    assert TrialResult.from_dict(legacy).stopped_by is None
    new = TrialResult("complete", score=0.5, stopped_by=STOPPED_BY_BUDGET)
    assert TrialResult.from_json(new.to_json()) == new
    assert new.to_record()["stopped_by"] == STOPPED_BY_BUDGET


def stopped(tmp_path: Path, *, package: bool, best_score=None):
    from types import SimpleNamespace

    from automl.engine.trials import TrialStatus

    if package:
        (tmp_path / "outputs").mkdir()
    return SimpleNamespace(
        trial_dir=tmp_path,
        stop_error="stopped: the job's limits.timeout_minutes (5) was reached",
        progress=TrialStatus(best_score=best_score),
        duration_s=12.0,
    )


def test_budget_outcome_keeps_the_best_epoch(tmp_path):
    from automl.engine.sweep.outcome import budget_outcome

    canceled = TrialResult("canceled", score=0.7, best_epoch=3, epochs_completed=4)
    kept = budget_outcome(stopped(tmp_path, package=True), canceled, lambda: None)
    assert (kept.state, kept.score, kept.best_epoch) == ("complete", 0.7, 3)
    assert kept.stopped_by == STOPPED_BY_BUDGET and not kept.interrupted and kept.error is None


def test_budget_outcome_without_a_result_uses_the_reported_best(tmp_path):
    from automl.engine.sweep.outcome import budget_outcome

    kept = budget_outcome(stopped(tmp_path, package=True), TrialResult("failed"), lambda: 0.6)
    assert (kept.state, kept.score, kept.stopped_by) == ("complete", 0.6, STOPPED_BY_BUDGET)


def test_budget_outcome_without_an_evaluated_epoch_is_canceled(tmp_path):
    from automl.engine.sweep.outcome import budget_outcome

    lost = budget_outcome(stopped(tmp_path, package=False), TrialResult("canceled"), lambda: None)
    assert lost.state == "canceled" and lost.interrupted and lost.stopped_by is None
    assert lost.error.endswith("before its first evaluated epoch")


def test_budget_outcome_of_a_trial_that_finished_first(tmp_path):
    from automl.engine.sweep.outcome import budget_outcome

    done = TrialResult("complete", score=0.8, epochs_completed=10)
    kept = budget_outcome(stopped(tmp_path, package=True), done, lambda: None)
    assert kept.state == "complete" and kept.stopped_by is None and kept.score == 0.8
