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
from automl.engine.sweep.attrs import CONTINUES_ATTR, FINAL_ATTR, OVERRIDES_ATTR
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
    assert fidelity.plan_fidelity(5, 1, 10) is None  # one trial: nothing to compare
    assert fidelity.plan_fidelity(5, 20, None) is None


def test_short_trials_get_no_pruner_but_still_a_final_run():
    made = plan(timeout=5, max_epochs=2)  # 2 epochs: no rung to stop at
    assert made.early_termination() is None and not made.hyperband
    assert made.final_run and made.to_json()["rungs_epochs"] == []
    assert any("no pruner" in line for line in made.why)


def test_a_budget_too_tight_to_explore_has_no_pruner_and_says_so():
    made = fidelity.plan_fidelity(3, 6, 10, final_max_epochs=30, explore_share=0.0)
    assert made is not None and made.early_termination() is None and made.final_run
    assert "too tight to search" in made.why[0]
    best = [row(0, "complete", 0.9, 8, 100.0, epoch_s=10.0)]  # the first trial, 8 epochs
    final = fidelity.final_run(best, made, 75.0, 5, lambda n: True)  # exploring: never
    spare = 75.0 - 20.0 - fidelity.PROCESS_START_S - fidelity.FINISH_RESERVE_S  # 20 s overhead
    assert final is not None and final.continues
    fits = int(spare / (10.0 * fidelity.EPOCH_MARGIN))
    assert final.epochs == 8 + int(fidelity.FILL_OVERPLAN * fits)


def test_budget_plans_hyperband_on_epochs_and_says_why():
    made = plan(timeout=5, max_epochs=10)
    assert made.early_termination() == {
        "type": "hyperband", "min_resource": 1, "max_resource": 10, "reduction_factor": 3,
    }  # fmt: skip
    assert made.n_brackets == 3 and made.final_run
    record = made.to_json()
    assert record["rungs_epochs"] == [1, 3, 9]
    assert record["explore_share"] == pytest.approx(1 / 3, abs=1e-3)
    assert len(record["why"]) >= 3
    assert all(line and "\n" not in line for line in record["why"])
    assert "timeout_minutes 5" in record["why"][0]


def test_a_fixed_number_of_epochs_is_never_trained_longer():
    made = fidelity.plan_fidelity(5, 20, 4, final_max_epochs=30, fixed={"number_of_epochs": 4})
    assert made is not None and not made.final_run
    best = [row(0, "complete", 0.9, 4, 40.0, epoch_s=10.0)]
    assert fidelity.final_run(best, made, 60.0, 1, lambda n: True) is None


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


def test_epoch_timing_separates_start_up_and_finish():
    assert fidelity.epoch_timing(row(0, "complete", 0.9, 4, 48.0, epoch_s=10.0)) == (10.0, 8.0)
    assert fidelity.epoch_timing(row(0, "pruned", 0.9, 2, 30.0)) == (15.0, 0.0)  # unknown
    assert fidelity.epoch_timing(row(0, "running", None, 2, 30.0)) is None
    assert fidelity.epoch_timing(row(0, "complete", 0.9, 0, 5.0)) is None


def timed_plan(timeout=5.0, max_epochs=4, final_max=30) -> fidelity.FidelityPlan:
    made = fidelity.plan_fidelity(timeout, 20, max_epochs, final_max_epochs=final_max)
    assert made is not None
    return made


def test_final_run_waits_until_the_exploring_third_is_spent():
    made = timed_plan(timeout=5)  # 300 s: exploring until 200 s are left
    best = [row(0, "complete", 0.9, 2, 28.0, epoch_s=10.0)]  # 10 s an epoch
    assert fidelity.final_run(best, made, 250.0, 5, lambda n: True) is None
    assert fidelity.final_run(best, made, 250.0, 1, lambda n: True) is not None  # last trial
    assert fidelity.final_run(best, made, 190.0, 5, lambda n: True) is not None
    assert fidelity.final_run([], made, 190.0, 5, lambda n: True) is None
    assert fidelity.final_run(best, made, 190.0, 0, lambda n: True) is None


def test_final_run_fills_the_time_left_by_its_own_seconds_per_epoch():
    made = timed_plan(timeout=5)
    rows = [row(0, "complete", 0.5, 2, 12.0, epoch_s=5.0),  # a cheap, weaker model
            row(1, "pruned", 0.9, 2, 28.0, epoch_s=10.0)]  # fmt: skip
    final = fidelity.final_run(rows, made, 190.0, 5, lambda n: True)
    # a complete trial ranks before a pruned one (summary.best_row): trial 0, 5 s an epoch
    assert final is not None and final.number == 0
    epoch_s, startup = 5.0, 2.0
    fits = int((190.0 - startup - fidelity.PROCESS_START_S - fidelity.FINISH_RESERVE_S)
               / (epoch_s * fidelity.EPOCH_MARGIN))  # fmt: skip
    assert final.continues and final.epochs == min(2 + int(fidelity.FILL_OVERPLAN * fits), 30)
    assert "continues from epoch 2" in final.why


def test_final_run_without_a_checkpoint_starts_again_and_is_capped():
    made = timed_plan(timeout=60, final_max=12)
    best = [row(3, "complete", 0.9, 2, 28.0, epoch_s=10.0)]
    final = fidelity.final_run(best, made, 2400.0, 5, lambda n: False)
    assert final is not None and not final.continues and final.epochs == 12
    assert "starts again" in final.why


def test_no_final_run_when_the_time_left_would_not_train_it_further():
    made = timed_plan(timeout=5)
    best = [row(0, "complete", 0.9, 4, 48.0, epoch_s=10.0)]  # 10 s an epoch
    assert fidelity.final_run(best, made, 25.0, 5, lambda n: True) is None
    assert fidelity.final_run(best, made, 25.0, 5, lambda n: False) is None


def test_final_overrides_turn_early_stopping_off_unless_fixed():
    final = fidelity.FinalRun(number=1, epochs=12, continues=True, why="")
    assert fidelity.final_overrides(final, {}) == {"number_of_epochs": 12, "early_stopping": False}
    assert fidelity.final_overrides(final, {"early_stopping": True}) == {"number_of_epochs": 12}


def fake_session(study, rows, timeout=5, started=None, checkpoint=True):
    fake = SimpleNamespace(
        plan=SimpleNamespace(fidelity=timed_plan(timeout=timeout), fixed_params={}),
        study=study, rows=lambda live: rows, metric="accuracy",
        started_epoch=time.time() if started is None else started,
    )  # fmt: skip
    fake._final_run_queued = lambda: SweepSession._final_run_queued(fake)
    fake._has_own_checkpoint = lambda number: checkpoint
    return fake


def test_session_queues_the_final_run_once_continuing_the_best():
    study = optuna.create_study(direction="maximize")
    for _ in range(2):
        trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1.0)})
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    rows = [row(0, "pruned", 0.5, 1, 6.0, epoch_s=5.0), row(1, "pruned", 0.9, 3, 18.0)]
    fake = fake_session(study, rows, timeout=5, started=time.time() - 120)  # exploring done
    SweepSession._queue_final_run(fake, trials_left=3)
    SweepSession._queue_final_run(fake, trials_left=3)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs[FINAL_ATTR] is True
    assert waiting[0].system_attrs["fixed_params"] == study.trials[1].params  # the best
    assert waiting[0].user_attrs[CONTINUES_ATTR] == 1
    overrides = waiting[0].user_attrs[OVERRIDES_ATTR]
    assert overrides["number_of_epochs"] > 3 and overrides["early_stopping"] is False


def test_session_explores_before_the_final_run():
    study = optuna.create_study(direction="maximize")
    trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1.0)})
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    fake = fake_session(study, [row(0, "pruned", 0.9, 1, 6.0)], timeout=5)  # just started
    SweepSession._queue_final_run(fake, trials_left=3)
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))


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
    assert spec["finish_by"] > time.time()  # the trial knows when the budget ends
    assert record["explore"]["share"] > 0 and record["explore"]["why"]


def test_only_automode_with_a_budget_gives_trials_a_finish_time():
    fake = fake_session(optuna.create_study(direction="maximize"), [], timeout=5, started=1000.0)
    expected = 1000.0 + 300.0 - fidelity.FINISH_RESERVE_S
    assert SweepSession.finish_by(fake) == pytest.approx(expected)
    explicit = SimpleNamespace(plan=SimpleNamespace(fidelity=None), started_epoch=1000.0)
    assert SweepSession.finish_by(explicit) is None  # an explicit job keeps its schedule
