"""Which trials the plan counts (engine/plan/trials.py) and the planned-vs-actual record
summary.json gets (engine/sweep/summary.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from automl.engine.plan.trials import cost_key, planned_trials
from automl.engine.sweep.space import SearchSpace
from automl.engine.sweep.summary import JobHeader, build_summary

JOB = SimpleNamespace(task="image_classification")


def resolver(task: str, params: dict) -> dict:
    return {"number_of_epochs": 5, "model_name": "resnet18", **params}


def sweep_plan(space: dict | list, sampling: str, max_trials: int, **extra) -> SimpleNamespace:
    return SimpleNamespace(
        mode="sweep",
        space=SearchSpace.from_config(space),
        sampling={"type": sampling},
        max_trials=max_trials,
        fixed_params={"training_batch_size": 8},
        automode=extra.get("automode"),
    )


def test_a_single_trial_is_the_users_parameters():
    plan = SimpleNamespace(mode="single", max_trials=1, fixed_params={"model_name": "vitb16r224"})
    plan.automode = None
    (config,) = planned_trials(JOB, plan, resolver).configs
    assert config["model_name"] == "vitb16r224"


def test_a_grid_is_its_points_and_bounds_the_trials():
    space = {"model_name": {"type": "choice", "values": ["resnet18", "resnet50"]}}
    trials = planned_trials(JOB, sweep_plan(space, "grid", 5), resolver)
    assert [c["model_name"] for c in trials.configs] == ["resnet18", "resnet50"]
    assert trials.reachable == 2


def test_a_random_sweep_takes_each_model_in_turn_with_ranges_at_their_middle():
    space = {
        "model_name": {"type": "choice", "values": ["resnet18", "resnet50"]},
        "learning_rate": {"type": "uniform", "min_value": 0.001, "max_value": 0.01},
        "number_of_epochs": {"type": "quniform", "min_value": 2, "max_value": 10, "q": 1},
    }
    trials = planned_trials(JOB, sweep_plan(space, "random", 3), resolver)
    assert [c["model_name"] for c in trials.configs] == ["resnet18", "resnet50", "resnet18"]
    assert {c["number_of_epochs"] for c in trials.configs} == {6}
    assert all(c["training_batch_size"] == 8 for c in trials.configs)
    assert trials.reachable is None


def test_automode_plans_its_portfolio_then_the_trials_around_it():
    portfolio = [{"model_name": "mobilenetv2"}, {"model_name": "resnet18"}]
    plan = sweep_plan({}, "bayesian", 5, automode=SimpleNamespace(portfolio=portfolio))
    plan.mode = "automode"
    trials = planned_trials(JOB, plan, resolver)
    assert [c["model_name"] for c in trials.configs] == [
        "mobilenetv2", "resnet18", "mobilenetv2", "resnet18", "mobilenetv2"
    ]  # fmt: skip


def test_the_learning_rate_does_not_change_a_configurations_cost():
    assert cost_key({"model_name": "a", "learning_rate": 0.1}) == cost_key({"model_name": "a"})
    assert cost_key({"model_name": "a"}) != cost_key({"model_name": "b"})


def header() -> JobHeader:
    return JobHeader("job", "image_classification", started_at="2026-01-01T00:00:00+00:00")


def test_summary_records_the_plan_against_the_actual_time(tmp_path):
    plan = {"wall_seconds": 100.0, "wall_seconds_range": [80.0, 150.0]}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    running = build_summary(header(), [], "running", run_dir=tmp_path)
    assert running["plan"] == {
        "wall_seconds": 100.0,
        "wall_seconds_range": [80.0, 150.0],
        "actual_wall_seconds": None,
        "error_ratio": None,
    }
    done = build_summary(
        header(), [], "completed", run_dir=tmp_path, finished_at="2026-01-01T00:02:00+00:00"
    )
    assert done["plan"]["actual_wall_seconds"] == 120.0
    assert done["plan"]["error_ratio"] == 1.2
    assert list(done)[-1] == "run_dir"


def test_a_run_without_a_plan_has_no_plan_in_its_summary(tmp_path):
    assert "plan" not in build_summary(header(), [], "completed", run_dir=tmp_path)
    (tmp_path / "plan.json").write_text("{not json")
    assert "plan" not in build_summary(header(), [], "completed", run_dir=tmp_path)


def test_job_create_starts_no_plan_process_before_a_first_plan(tmp_path, monkeypatch):
    import subprocess

    from automl.engine.runs.submit import write_plan

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert write_plan(tmp_path) is False


def test_job_create_and_the_plan_package_agree_on_their_contract():
    from automl.engine.plan.__main__ import NOT_CALIBRATED_EXIT
    from automl.engine.plan.api import CALIBRATION_LIMIT
    from automl.engine.plan.cache import CACHE_FILE
    from automl.engine.runs import submit

    assert submit.PLAN_CALIBRATIONS == CACHE_FILE
    assert submit.PLAN_LIMIT == CALIBRATION_LIMIT
    assert submit.PLAN_MODULE == "automl.engine.plan"
    assert submit.PLAN_NOT_CALIBRATED == NOT_CALIBRATED_EXIT
