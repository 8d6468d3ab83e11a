"""Multi-fidelity AutoMode (engine/sweep/fidelity.py): with a time budget, Hyperband on
epochs and a final full-length run of the best configuration; each rule on its own, then
the plan and the pruner as the controller uses them."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import optuna
import pytest
from sweep_stubs import StubJob

from automl.engine.sweep import fidelity
from automl.engine.sweep.attrs import FINAL_ATTR
from automl.engine.sweep.plan import plan_sweep
from automl.engine.sweep.pruners import FidelityPruner, build_pruner, pruner_spec
from automl.engine.sweep.session import SweepSession
from automl.engine.training.study import build_pruner as trial_build_pruner


def plan(timeout=5.0, max_trials=20, max_epochs=10) -> fidelity.FidelityPlan:
    made = fidelity.plan_fidelity(timeout, max_trials, max_epochs)
    assert made is not None
    return made


def row(number, state, score, epochs, duration_s=60.0, **extra) -> dict:
    return {"number": number, "state": state, "score": score, "epochs_completed": epochs,
            "duration_s": duration_s, "params": {}, **extra}  # fmt: skip


# ---- planning ---------------------------------------------------------------------------


def test_no_budget_no_multi_fidelity():
    assert fidelity.plan_fidelity(None, 20, 10) is None  # no timeout given
    assert fidelity.plan_fidelity(5, 20, 2) is None  # 2 epochs: no rung to stop at
    assert fidelity.plan_fidelity(5, 1, 10) is None  # one trial: nothing to compare
    assert fidelity.plan_fidelity(5, 20, None) is None


def test_budget_plans_hyperband_on_epochs_and_says_why():
    made = plan(timeout=5, max_epochs=10)
    assert made.early_termination() == {
        "type": "hyperband", "min_resource": 1, "max_resource": 10, "reduction_factor": 3,
    }  # fmt: skip
    assert made.n_brackets == 3 and made.final_run
    record = made.to_json()
    assert record["rungs_epochs"] == [1, 3, 9]
    assert len(record["why"]) >= 3
    assert all(line and "\n" not in line for line in record["why"])
    assert "timeout_minutes 5" in record["why"][0]


def test_rungs_and_brackets_follow_optuna():
    assert fidelity.rungs(1, 27, 3) == [1, 3, 9]
    assert fidelity.n_brackets(1, 27, 3) == 4
    assert fidelity.n_brackets(1, 3, 3) == 2
    assert fidelity.rungs(1, 3, 3) == [1]


def test_only_a_timeout_the_user_gave_counts():
    given = SimpleNamespace(raw={"limits": {"timeout_minutes": 5}}, resolved={})
    default = SimpleNamespace(raw={"limits": {}}, resolved={"limits": {"timeout_minutes": 10080}})
    assert fidelity.user_timeout(given) == 5.0
    assert fidelity.user_timeout(default) is None
    stub = StubJob(resolved={"limits": {"timeout_minutes": 2}})  # no raw: what it resolved
    assert fidelity.user_timeout(stub) == 2.0


def test_trial_epochs_fixed_value_wins():
    portfolio = [{"number_of_epochs": 10}, {"number_of_epochs": 15}, {}]
    assert fidelity.trial_epochs(portfolio, {}) == 15
    assert fidelity.trial_epochs(portfolio, {"number_of_epochs": 4}) == 4
    assert fidelity.trial_epochs([{}], {}) is None


# ---- the final run ----------------------------------------------------------------------


def test_epoch_minutes_is_the_median_over_finished_trials():
    rows = [row(0, "complete", 0.9, 10, 60.0), row(1, "pruned", 0.5, 1, 12.0),
            row(2, "pruned", 0.4, 3, 24.0), row(3, "running", None, 2, 99.0)]  # fmt: skip
    assert fidelity.epoch_minutes(rows) == pytest.approx(8.0 / 60.0)
    assert fidelity.epoch_minutes([row(0, "running", None, 0)]) is None


def test_final_run_only_for_a_best_cut_short():
    made = plan(max_epochs=10)  # per epoch 0.1 min: full run 1.25 min, a short one 0.125
    complete = [row(0, "complete", 0.9, 10, 60.0)]
    pruned = [row(0, "pruned", 0.9, 3, 18.0)]
    budget_cut = [row(0, "complete", 0.9, 4, 24.0, stopped_by="budget")]
    assert not fidelity.final_run_due(complete, made, 1.3, 5)  # already to completion
    assert fidelity.final_run_due(pruned, made, 1.3, 5)
    assert fidelity.final_run_due(budget_cut, made, 1.3, 5)


def test_final_run_waits_for_its_time_and_never_starts_too_late():
    made = plan(max_epochs=10)
    pruned = [row(0, "pruned", 0.9, 3, 18.0)]  # 0.1 min per epoch
    assert not fidelity.final_run_due(pruned, made, 30.0, 5)  # time for more short trials
    assert fidelity.final_run_due(pruned, made, 30.0, 1)  # the last trial of max_trials
    assert not fidelity.final_run_due(pruned, made, 1.0, 1)  # would not finish in time
    assert not fidelity.final_run_due(pruned, made, 30.0, 0)
    assert not fidelity.final_run_due([], made, 1.3, 5)


def test_session_queues_the_final_run_once():
    study = optuna.create_study(direction="maximize")
    for _ in range(2):
        trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1.0)})
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    rows = [row(0, "pruned", 0.5, 1, 6.0), row(1, "pruned", 0.9, 3, 18.0)]
    fake = SimpleNamespace(
        plan=SimpleNamespace(fidelity=plan(timeout=60, max_epochs=10)),
        study=study, rows=lambda live: rows, started_epoch=time.time(), metric="accuracy",
    )  # fmt: skip
    fake._final_run_queued = lambda: SweepSession._final_run_queued(fake)
    SweepSession._queue_final_run(fake, trials_left=1)
    SweepSession._queue_final_run(fake, trials_left=1)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs[FINAL_ATTR] is True
    assert waiting[0].system_attrs["fixed_params"] == study.trials[1].params  # the best


# ---- the pruner -------------------------------------------------------------------------


def test_pruner_is_rebuilt_by_the_trial_from_its_spec():
    settings = plan(max_epochs=9).early_termination()
    pruner = build_pruner(settings)
    assert isinstance(pruner, FidelityPruner)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    spec = pruner_spec(settings)
    assert spec == {
        "class": "automl.engine.sweep.pruners.FidelityPruner",
        "kwargs": {"min_resource": 1, "max_resource": 9, "reduction_factor": 3},
    }
    assert isinstance(trial_build_pruner(json.loads(json.dumps(spec))), FidelityPruner)


def test_pruner_stops_the_weak_and_never_the_final_run():
    pruner = FidelityPruner(min_resource=1, max_resource=9, reduction_factor=3)
    # Hyperband puts a trial in a bracket by a hash of the study name and trial number
    study = optuna.create_study(study_name="fidelity", direction="maximize", pruner=pruner)
    for _ in range(30):  # a field of strong, complete trials (a rung's record: should_prune)
        trial = study.ask()
        for epoch in range(1, 10):
            trial.report(0.9, step=epoch)
            trial.should_prune()
        study.tell(trial, 0.9)
    weak = []
    for _ in range(6):
        trial = study.ask()
        trial.report(0.01, step=1)
        weak.append(trial.number)
    trials = {t.number: t for t in study.get_trials(deepcopy=True)}
    pruned = [n for n in weak if pruner.prune(study, trials[n])]
    assert pruned  # those of the first bracket stop at epoch 1
    final = trials[pruned[0]]
    final.user_attrs = {FINAL_ATTR: True}
    assert not pruner.prune(study, final)


# ---- the plan ---------------------------------------------------------------------------


def automode_job(**limits) -> StubJob:
    return StubJob(mode="automode", resolved={"limits": {"max_trials": 6, **limits}})


def test_automode_with_a_timeout_plans_hyperband(data):
    made = plan_sweep(automode_job(timeout_minutes=5), data, [], stub_lr_resolver)
    assert made.fidelity is not None and made.early_termination["type"] == "hyperband"
    assert made.early_termination["max_resource"] == made.fidelity.max_epochs
    plain = plan_sweep(automode_job(), data, [], stub_lr_resolver)
    assert plain.fidelity is None and plain.early_termination is None


def stub_lr_resolver(task: str, params: dict) -> dict:
    return {"learning_rate": 0.01, **params}


@pytest.mark.slow
def test_automode_run_records_the_budget_plan(run, data, tmp_path):
    job = StubJob(mode="automode", resolved={"limits": {"max_trials": 2, "timeout_minutes": 60}})
    summary = run(job, tmp_path / "run", data)
    assert summary["status"] == "completed"
    record = json.loads((tmp_path / "run" / "automode_plan.json").read_text())
    assert record["fidelity"]["early_termination"]["type"] == "hyperband"
    assert record["fidelity"]["why"]
    spec = json.loads((tmp_path / "run" / "trials" / "0" / "spec.json").read_text())
    assert spec["study"]["pruner"]["class"].endswith("FidelityPruner")
