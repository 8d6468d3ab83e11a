"""result.json and status.json: round trip, version, the files of older run directories,
and one outcome from result.json through the study to the summary row."""

from __future__ import annotations

import json

import optuna
import pytest

from automl.engine.errors import TrialError
from automl.engine.trials import TrialResult, TrialStatus

# result.json as trials wrote it before results had a version
RESULT_BEFORE = {
    "state": "complete",
    "score": 0.75,
    "best_epoch": 2,
    "metrics": {"accuracy": 0.75},
    "epochs_completed": 3,
    "duration_s": 12.5,
    "error": None,
    "details": {"confusion_matrix": [[1, 0], [0, 1]]},
}
# the outcome the controller stored in the study before (no version, no details)
OUTCOME_BEFORE = {
    "state": "failed",
    "score": None,
    "metrics": {},
    "best_epoch": None,
    "epochs_completed": 0,
    "duration_s": None,
    "error": "worker lost",
    "interrupted": True,
}
STATUS_BEFORE = {
    "state": "running",
    "pid": 12,
    "epoch": 1,
    "n_epochs": 3,
    "step": 4,
    "n_steps": 9,
    "train_loss": 0.5,
    "last_score": None,
    "evaluated_epoch": None,
    "best_score": None,
    "eta_s": 3.0,
    "updated_at": 1700000000.0,
}


def test_round_trip_and_version(tmp_path):
    result = TrialResult("pruned", score=0.5, best_epoch=1, metrics={"iou": 0.5}, details={"a": 1})
    assert result.to_dict()["version"] == 1
    assert TrialResult.from_json(result.to_json()) == result
    result.write(tmp_path)
    assert TrialResult.read(tmp_path) == result
    assert TrialResult.read(tmp_path / "none") is None


def test_a_result_written_before_versions_reads():
    result = TrialResult.from_dict(RESULT_BEFORE)
    assert result.state == "complete" and result.score == 0.75 and result.is_scored
    assert result.details == RESULT_BEFORE["details"] and result.interrupted is False
    assert result.to_dict() == {**RESULT_BEFORE, "version": 1, "interrupted": False}


def test_an_outcome_stored_in_an_older_study_reads():
    result = TrialResult.from_dict(OUTCOME_BEFORE)
    assert result.interrupted and result.error == "worker lost" and result.details == {}


def test_the_study_keeps_all_but_the_details():
    record = TrialResult.from_dict(RESULT_BEFORE).to_record()
    assert "details" not in record and record["version"] == 1
    assert TrialResult.from_dict(record).score == 0.75


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**RESULT_BEFORE, "version": 9}, "trial result version 9; this automl reads version 1"),
        ({**RESULT_BEFORE, "state": "done"}, "trial result state 'done' is none of"),
        (["complete"], "must be a JSON object"),
    ],
)
def test_a_result_that_cannot_be_read_says_why(tmp_path, data, message):
    (tmp_path / "result.json").write_text(json.dumps(data))
    with pytest.raises(TrialError) as caught:
        TrialResult.read(tmp_path)
    assert message in str(caught.value) and "result.json" in str(caught.value)


def test_status_round_trip_and_older_files(tmp_path):
    status = TrialStatus.from_dict(STATUS_BEFORE)
    assert status.epoch == 1 and status.eta_s == 3.0
    assert status.to_dict() == {"version": 1, **STATUS_BEFORE}
    (tmp_path / "status.json").write_text(json.dumps(status.to_dict()))
    assert TrialStatus.read(tmp_path) == status
    (tmp_path / "status.json").write_text("[")
    assert TrialStatus.read(tmp_path) is None  # a display never fails on a torn file


def test_one_outcome_from_result_json_to_the_summary_row(tmp_path):
    """result.json -> the controller's judgement -> the study -> summary.json's row."""
    from automl.engine.sweep import storage
    from automl.engine.sweep.attrs import PARAMS_ATTR
    from automl.engine.sweep.summary import trial_rows

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.set_user_attr(PARAMS_ATTR, {"learning_rate": 0.01})
    TrialResult.from_dict(RESULT_BEFORE).write(tmp_path)
    judged = TrialResult.read(tmp_path).judged("complete", None, duration_s=13.0)
    storage.record_outcome(study, storage.trial_id(trial), judged)
    (row,) = trial_rows(study.get_trials(), {})
    assert row == {
        "number": 0,
        "state": "complete",
        "params": {"learning_rate": 0.01},
        "score": 0.75,
        "metrics": {"accuracy": 0.75},
        "epochs_completed": 3,
        "duration_s": 13.0,
        "error": None,
        "best_epoch": 2,
    }
    assert study.best_value == 0.75
