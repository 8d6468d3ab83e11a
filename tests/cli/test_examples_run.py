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
    """demo_classification.yml, then incremental_training.yml continuing from it by name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOML_HOME", str(tmp_path / "home"))  # the name is this test's own
    code, out, err = cli(["job", "create", "--file", JOBS / "demo_classification.yml",
                          *SHRINK, "-o", "json"])  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["name"] == "demo_classification"
    code, out, err = cli(["job", "create", "--file", JOBS / "incremental_training.yml",
                          *SHRINK, "-o", "json"])  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"


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
