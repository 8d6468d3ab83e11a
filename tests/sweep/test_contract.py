"""Contract tests against the real config engine: sampled parameters validate."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from automl.engine.sweep.automode import DataProfile, HardwareProfile, plan_automode
from automl.engine.sweep.plan import integer_hyperparameters, plan_sweep

config = pytest.importorskip("automl.engine.config")
JOBS_DIR = Path(__file__).resolve().parents[2] / "examples" / "jobs"
TASKS = [
    "image_classification",
    "image_classification_multilabel",
    "image_object_detection",
    "image_instance_segmentation",
]


def sweep_jobs() -> list[Path]:
    return [p for p in sorted(JOBS_DIR.glob("*.yml")) if "search_space:" in p.read_text()]


@pytest.mark.parametrize("path", sweep_jobs(), ids=lambda p: p.name)
def test_sampled_parameters_of_example_sweeps_validate(path, tmp_path):
    job = config.load_job(path, check_paths=False)
    plan = plan_sweep(job, None, [], config.resolve_trial_parameters)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        params = plan.space.suggest(study.ask())
        resolved = config.resolve_trial_parameters(job.task, {**plan.fixed_params, **params})
        assert resolved["model_name"] == params.get("model_name", resolved["model_name"])


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("hardware", [HardwareProfile("cpu"), HardwareProfile("cuda", 1, 16.0)])
def test_automode_portfolio_and_tpe_space_validate(task, hardware):
    plan = plan_automode(task, DataProfile(n_train=120, median_box_area=0.005), hardware, 12, {})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    samples = [plan.search_space.suggest(study.ask()) for _ in range(10)]
    for params in plan.portfolio + samples:
        config.resolve_trial_parameters(task, params)


@pytest.mark.parametrize("task", TASKS)
def test_integer_keys_come_from_the_schema(task):
    assert {"number_of_epochs", "training_batch_size"} <= integer_hyperparameters(task)


JOB_YAML = """
type: automl
task: image_classification
name: real_job
target_column_name: label
training_data: {path: ./train, type: mltable}
limits: {max_trials: 2, max_concurrent_trials: 2}
training_parameters: {number_of_epochs: 2}
sweep: {sampling_algorithm: grid}
search_space:
  - model_name: {type: choice, values: [test_tiny_cnn]}
    learning_rate: {type: choice, values: [0.01, 0.001]}
"""


def test_a_real_job_runs_through_the_controller(run, data, tmp_path):
    path = tmp_path / "job.yml"
    path.write_text(JOB_YAML)
    job = config.load_job(path, check_paths=False)
    summary = run(job, tmp_path / "run", data, resolve_parameters=None)
    assert summary["status"] == "completed" and summary["name"] == "real_job"
    assert sorted(t["params"]["learning_rate"] for t in summary["trials"]) == [0.001, 0.01]
    assert all(t["epochs_completed"] == 2 for t in summary["trials"])
