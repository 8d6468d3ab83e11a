"""Examples are tests: the classification examples run end to end, shrunk to one short trial."""

import json
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[2] / "examples" / "jobs"
SHRINK = [
    "--set", "training_parameters.number_of_epochs=1",
    "--set", "training_parameters.training_crop_size=32",
    "--set", "training_parameters.validation_resize_size=36",
    "--set", "training_parameters.validation_crop_size=32",
    "--set", "training_parameters.number_of_workers=0",
]  # fmt: skip


@pytest.mark.slow
def test_demo_then_incremental_training_example(tmp_path, cli, monkeypatch):
    """demo_classification.yml, then incremental_training.yml continuing from it by name, run
    from another folder (checkpoint_run_id finds the job through the index of runs)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOML_HOME", str(tmp_path / "home"))  # the name is this test's own
    code, out, err = cli(["job", "create", "--file", JOBS / "demo_classification.yml",
                          *SHRINK, "-o", "json"])  # fmt: skip
    assert code == 0, err
    demo = json.loads(out)
    assert demo["name"] == "demo_classification"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = cli(["job", "create", "--file", JOBS / "incremental_training.yml",
                          *SHRINK, "-o", "json"])  # fmt: skip
    assert code == 0, err
    continued = json.loads(out)
    assert continued["status"] == "completed"
    log = (Path(continued["run_dir"]) / "trials" / "0" / "trial.log").read_text()
    assert f"initial weights from {demo['run_dir']}/best_model" in log


@pytest.mark.slow
@pytest.mark.parametrize("name", ["classification_multilabel.yml", "sweep_bandit.yml"])
def test_classification_examples_run(tmp_path, cli, name):
    extra = ["--set", "limits.max_trials=1"] if name.startswith("sweep") else []
    pretrained = ["--set", "training_parameters.pretrained=false"]
    code, out, err = cli(["job", "create", "--file", JOBS / name, "--run-dir", tmp_path / "run",
                          *SHRINK, *pretrained, *extra, "-o", "json"])  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed" and summary["best_trial"] is not None
