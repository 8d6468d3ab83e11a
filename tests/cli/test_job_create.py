"""`automl job create` end to end: tiny model, bundled real images."""

import csv
import json

import pytest
from _support.jobs import write_job
from _support.trained import printed_path

CASES = {
    "image_classification": ("flowers5", "accuracy"),
    "image_classification_multilabel": ("chess_multilabel", "iou"),
}
RUN_FIXTURES = {
    "image_classification": "classification_run",
    "image_classification_multilabel": "multilabel_run",
}

PACKAGE_FILES = ["model.pt", "settings.json", "labels.json", "MLmodel", "requirements.txt"]


@pytest.mark.parametrize("task", sorted(CASES))
def test_job_create_writes_a_complete_run_directory(request, task):
    """The session's 2-epoch runs (tests/conftest.py: `automl job create --output json` in a
    child process, trained once for every test that needs a model) left a complete run."""
    _, metric = CASES[task]
    run_dir = request.getfixturevalue(RUN_FIXTURES[task])
    summary = json.loads(printed_path(run_dir).read_text())
    assert summary == json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["task"] == task
    assert summary["primary_metric"]["name"] == metric
    assert summary["best_trial"]["number"] == 0
    assert 0.0 <= summary["best_trial"]["score"] <= 1.0
    trial = summary["trials"][0]
    assert trial["state"] == "complete" and trial["epochs_completed"] == 2
    assert trial["error"] is None and trial["duration_s"] > 0

    for name in [
        "job.yml",
        "job.resolved.yml",
        "env.json",
        "data/split.json",
        "data/train.jsonl",
        "data/valid.jsonl",
        "leaderboard.csv",
    ]:
        assert (run_dir / name).is_file(), name
    trial_dir = run_dir / "trials" / "0"
    for name in ["spec.json", "metrics.jsonl", "trial.log", "checkpoints/last.pt"]:
        assert (trial_dir / name).is_file(), name
    for name in PACKAGE_FILES:
        assert (trial_dir / "outputs" / name).is_file(), name
        assert (run_dir / "best_model" / name).is_file(), name
    assert list((trial_dir / "plots").glob("*.png"))

    lines = [json.loads(line) for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2] or [line["epoch"] for line in lines] == [
        0,
        1,
    ]
    assert metric in lines[-1]["valid"] and "loss" in lines[-1]["train"]
    labels = json.loads((run_dir / "best_model" / "labels.json").read_text())
    assert labels == json.loads((run_dir / "data" / "split.json").read_text())["labels"]
    env = json.loads((run_dir / "env.json").read_text())
    assert env["packages"]["torch"]
    with open(run_dir / "leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and rows[0]["state"] == "complete"

    import torch

    package = torch.load(run_dir / "best_model" / "model.pt", weights_only=True)
    assert package["task"] == task and package["model_name"] == "test_tiny_cnn"
    assert package["labels"] == labels


def test_job_create_refuses_to_overwrite_a_run(tmp_path, cli):
    job = write_job(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "job.yml").write_text("type: automl\n")
    code, _, err = cli(["job", "create", "--file", job, "--run-dir", run_dir])
    assert code == 1
    assert "already holds a job" in err


def test_job_create_reports_bad_job_without_traceback(tmp_path, cli):
    job = tmp_path / "bad.yml"
    job.write_text("type: automl\ntask: image_classification\nlimits:\n  max_trail: 3\n")
    code, _, err = cli(["job", "create", "--file", job, "--run-dir", tmp_path / "run"])
    assert code == 1
    assert "max_trials" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_failed_trial_exits_1_with_its_error_once(tmp_path, cli):
    job = write_job(tmp_path, checkpoint_run_id="no-such-job")
    run_dir = tmp_path / "run"
    code, out, err = cli(["job", "create", "--file", job, "--run-dir", run_dir])
    assert code == 1
    assert "failed" in out
    assert "error: its trial failed: checkpoint_run_id='no-such-job'" in err
    # said once: the trial's log ends with that same error, so its tail is not repeated
    assert err.count("error: its trial failed") == 1 and "last lines of" not in err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["trials"][0]["state"] == "failed"
