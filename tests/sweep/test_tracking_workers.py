"""A tracked job's MLflow run is kept with the study: a worker joining the job (here on the
same machine, with the fake trial runner) logs its trials into the same parent run."""

from __future__ import annotations

import pytest

SPACE = [{"learning_rate": {"type": "choice", "values": [0.01, 0.02, 0.03]}}]


@pytest.mark.slow
def test_a_worker_logs_into_the_jobs_run(tmp_path, data, sweep_job, run, monkeypatch):
    from mlflow import MlflowClient

    from automl.engine.sweep.attrs import TRACKING_ATTR
    from automl.engine.sweep.worker import load_job_study

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_dir = tmp_path / "run"
    sweep = {"sampling_algorithm": "grid"}
    first = run(sweep_job(SPACE, sweep, max_trials=2), run_dir, data, tracking_uri=uri)
    assert first["status"] == "completed"
    record = load_job_study("job", str(run_dir / "study.journal")).user_attrs[TRACKING_ATTR]
    assert record["uri"] == uri
    # a worker given no URI uses the one the study records (it holds no password)
    worker = run(sweep_job(SPACE, sweep, max_trials=3), run_dir, data, join=True)
    assert worker["n_trials"] == 3
    client = MlflowClient(uri)
    runs = client.search_runs([record["experiment_id"]])
    assert [r.info.run_id for r in runs] == [record["run_id"]]  # one run: the job's
    scores = client.get_metric_history(record["run_id"], "trial_score")
    assert sorted(m.step for m in scores) == [0, 1, 2]
    assert client.get_run(record["run_id"]).info.status == "FINISHED"
