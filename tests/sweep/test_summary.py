"""The sweep charts of a job record (summary.py)."""

from __future__ import annotations

import sys

import optuna

from automl.engine.sweep.plots import prewarm_plotting, write_sweep_plots
from automl.engine.sweep.summary import trial_rows


def small_study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
        momentum = trial.suggest_float("momentum", 0.8, 0.99)
        return -abs(lr - 0.01) + 0.01 * momentum

    study.optimize(objective, n_trials=12)
    return study


def test_importance_chart_needs_no_scikit_learn(tmp_path, monkeypatch):
    """Optuna before 5.0 computes importance with fANOVA, which needs scikit-learn (not a
    dependency of ours): the chart is drawn without it, on any supported Optuna."""
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    study = small_study()
    trials = study.get_trials()
    rows = [  # as the controller records them: outcome (state, score) per trial
        {**row, "state": "complete", "score": trial.value}
        for row, trial in zip(trial_rows(trials, {}), trials, strict=True)
    ]
    written = write_sweep_plots(tmp_path, rows, study, "accuracy")
    assert {path.name for path in written} == {
        "optimization_history.png",
        "param_importances.png",
    }
    assert all(path.stat().st_size > 1000 for path in written)


def test_prewarm_loads_the_chart_libraries():
    prewarm_plotting().join(timeout=60)
    assert "matplotlib.pyplot" in sys.modules and "optuna.importance" in sys.modules
