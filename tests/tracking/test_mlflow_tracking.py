"""A job as an MLflow run with nested trial runs (local SQLite store), TensorBoard event
files, and a tracking store that is down: one warning, the job still trains."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support.jobs import write_job
from _support.paths import BUNDLED_DATA_DIR

AUTOML = str(Path(sys.executable).with_name("automl"))
SPACE = [{"learning_rate": {"type": "choice", "values": [0.01, 0.05]}}]


def run_automl(args: list, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop("MLFLOW_TRACKING_URI", None)
    environment.update(env or {})
    command = [AUTOML, *map(str, args)]
    return subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=cwd, timeout=300
    )


def sweep_job(tmp_path: Path) -> Path:
    limits = {"max_trials": 2, "max_concurrent_trials": 1}
    return write_job(tmp_path, name="tracked", epochs=2, limits=limits, random_seed=0,
                     sweep={"sampling_algorithm": "grid"}, search_space=SPACE,
                     experiment_name="tracking-test")  # fmt: skip


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """A 2-trial sweep of the tiny model logged to a local SQLite MLflow store."""
    tmp_path = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_dir = tmp_path / "run"
    args = ["job", "create", "--file", sweep_job(tmp_path), "--run-dir", run_dir]
    home = {"AUTOML_HOME": str(tmp_path / "home")}  # set before the autouse fixture is
    result = run_automl([*args, "--tracking-uri", uri, "-o", "json"], tmp_path, home)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "mlruns").exists()  # artifacts beside the database
    assert (tmp_path / "mlartifacts" / "tracking-test").is_dir()
    return uri, run_dir, json.loads(result.stdout)


@pytest.mark.slow
def test_job_is_a_run_with_nested_trial_runs(tracked_run):
    from mlflow import MlflowClient

    uri, run_dir, summary = tracked_run
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tracking-test")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert parent.info.run_name == summary["name"]
    assert parent.data.params["task"] == "image_classification"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["automl.trial"] for r in children) == ["0", "1"]
    for child in children:
        assert child.data.params["learning_rate"] in ("0.01", "0.05")
        history = client.get_metric_history(child.info.run_id, "valid/accuracy")
        assert sorted(m.step for m in history) == [1, 2]
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"metrics.jsonl", "result.json", "plots"} <= artifacts
        number = child.data.tags["automl.trial"]
        assert list((run_dir / "trials" / number / "tensorboard").glob("events.out.tfevents*"))
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"summary.json", "leaderboard.csv", "plots"} <= artifacts
    scores = client.get_metric_history(parent.info.run_id, "trial_score")
    assert sorted(m.step for m in scores) == [0, 1]


@pytest.mark.slow
def test_best_model_loads_with_a_signature(tracked_run):
    import mlflow
    import pandas as pd

    uri, run_dir, summary = tracked_run
    mlflow.set_tracking_uri(uri)
    parent = mlflow.search_runs(
        experiment_names=["tracking-test"],
        filter_string=f"tags.mlflow.runName = '{summary['name']}'",
        output_format="list",
    )[0]
    models = mlflow.search_logged_models(
        experiment_ids=[parent.info.experiment_id], output_format="list"
    )
    assert [m.source_run_id for m in models] == [parent.info.run_id]
    model = mlflow.pyfunc.load_model(models[0].model_uri)
    signature = model.metadata.signature
    assert signature.inputs.input_names() == ["image"]
    assert set(signature.outputs.input_names()) == {"probs", "labels"}
    image = next((BUNDLED_DATA_DIR / "flowers5" / "valid").rglob("*.jpg"))
    encoded = base64.b64encode(image.read_bytes()).decode("ascii")
    predictions = model.predict(pd.DataFrame({"image": [encoded]}))
    assert len(predictions) == 1 and len(predictions["probs"][0]) == 5


@pytest.mark.slow
def test_dead_tracking_server_only_warns(tmp_path):
    job = write_job(tmp_path, name="untracked")
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    args = ["job", "create", "--file", job, "--run-dir", tmp_path / "run"]
    result = run_automl(args, tmp_path, env)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "tracking is off" in line]
    assert len(warnings) == 1, result.stderr
    assert (tmp_path / "run" / "best_model" / "model.pt").is_file()
