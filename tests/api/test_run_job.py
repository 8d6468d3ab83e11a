"""`automl.run_job`: the engine function `automl job create` calls, from a file or a dict,
with `--set` overrides as keywords."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from _support.jobs import job_dict, write_job

import automl


@pytest.mark.slow
def test_run_job_from_a_dict_with_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    job = job_dict(epochs=3, name="api-dict", limits={"max_trials": 1})
    result = automl.run_job(
        job, run_dir=tmp_path / "run", **{"training_parameters.number_of_epochs": 1}
    )
    assert isinstance(result, automl.JobResult)
    assert result.ok and result.status == "completed"
    assert result.name == "api-dict" and result.run_dir == tmp_path / "run"
    assert result.primary_metric == "accuracy" and result.best_score is not None
    assert result.summary["trials"][0]["epochs_completed"] == 1  # the override won
    recorded = (result.run_dir / "job.resolved.yml").read_text()
    assert "# --set training_parameters.number_of_epochs=1" in recorded
    source = json.loads((result.run_dir / "job_source.json").read_text())
    assert source["job_dir"] == str(tmp_path)  # relative data paths: the current folder
    model = result.load_model()
    assert model.task == "image_classification" and model.model_dir == result.best_model_dir


def test_run_job_calls_what_job_create_calls(tmp_path, monkeypatch):
    """`automl job create -f F --name N --run-dir D --set k=v` and `run_job(F, name=N,
    run_dir=D, k=v)` reach the one engine function with the same arguments."""
    import automl.cli.job
    import automl.engine.runs

    calls = []

    def fake_submit(path, overrides, **options):
        calls.append((Path(path), list(overrides), options.get("name"), options.get("run_dir")))
        summary = {"name": "n", "status": "completed", "run_dir": str(tmp_path / "d")}
        return {**summary, "primary_metric": {"name": "accuracy"}, "trials": []}

    monkeypatch.setattr(automl.engine.runs, "submit_job", fake_submit)
    monkeypatch.setattr(automl.cli.job, "JobProgress", contextlib.nullcontext)
    job = write_job(tmp_path)
    result = automl.run_job(job, name="n", run_dir=tmp_path / "d", **{"limits.max_trials": 2})
    from automl.cli.main import run

    args = ["job", "create", "-f", job, "--name", "n", "--run-dir", tmp_path / "d"]
    assert run([*map(str, args), "--set", "limits.max_trials=2", "--output", "json"]) == 0
    assert calls[0] == calls[1] == (job, ["limits.max_trials=2"], "n", tmp_path / "d")
    assert result.ok and result.best_model_dir is None


def test_an_invalid_job_raises_a_config_error(tmp_path):
    job = write_job(tmp_path)
    with pytest.raises(automl.AutomlError, match="number_of_epochs"):
        automl.run_job(job, **{"training_parameters.number_of_epochs": -1})
    assert not (tmp_path / "runs").exists()


def test_overrides_are_the_cli_set_texts():
    from automl._jobs import format_override
    from automl.engine.config.overrides import parse_override

    cases = {"limits.max_trials": 4, "training_parameters.model_name": "resnet18",
             "search_space[0].learning_rate": {"type": "uniform", "min_value": 0.1,
                                               "max_value": 0.2},
             "training_parameters.pretrained": False, "name": "a: b"}  # fmt: skip
    for key, value in cases.items():
        path, parsed = parse_override(format_override(key, value))
        assert parsed == value


def test_import_automl_is_cheap():
    code = "import sys, automl; automl.run_job; automl.Model; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
    assert set(automl.__all__) <= set(dir(automl))


def test_the_readme_examples_use_names_that_exist():
    """README's "Python API" code compiles and every automl.NAME and JobResult/Model/result
    attribute it uses exists."""
    import re

    from _support.paths import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    compile(code, "README.md", "exec")
    for name in re.findall(r"\bautoml\.(\w+)\(", code):
        assert hasattr(automl, name), name
    for attribute in re.findall(r"\bresult\.(\w+)", code):
        fields = {field.name for field in dataclasses.fields(automl.JobResult)}
        assert hasattr(automl.JobResult, attribute) or attribute in fields, attribute
    for attribute in re.findall(r"\bmodel\.(\w+)", code):
        assert hasattr(automl.Model, attribute), attribute
