"""Early termination: every policy obeys Azure's documented rules (§5.3)."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from automl.engine.errors import ConfigError
from automl.engine.sweep.pruners import (
    PRUNERS,
    BanditPruner,
    MedianStoppingPruner,
    TruncationSelectionPruner,
    build_pruner,
    pruner_spec,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def study_with(*finished: list[float], direction: str = "maximize") -> optuna.Study:
    """A study holding finished trials with these per-interval values."""
    study = optuna.create_study(direction=direction)
    for values in finished:
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=values[-1],
                intermediate_values=dict(enumerate(values, start=1)),
            )
        )
    return study


def decisions(pruner, study: optuna.Study, values: list[float]) -> list[bool]:
    """Report `values` one by one for a new trial; the pruner's answer after each."""
    trial = study.ask()
    answers = []
    for step, value in enumerate(values, start=1):
        trial.report(value, step)
        answers.append(pruner.prune(study, study._storage.get_trial(trial._trial_id)))
    return answers


def test_registry_and_no_policy():
    # Azure's three, and AutoMode's own hyperband (multi-fidelity; not in the job schema)
    assert PRUNERS.names() == ["bandit", "hyperband", "median_stopping", "truncation_selection"]
    assert isinstance(build_pruner(None), optuna.pruners.NopPruner)
    assert pruner_spec(None) is None


def test_bandit_documented_example_stops_only_at_evaluation_points():
    # Best 0.8, slack_factor 0.2: below 0.8 / 1.2 = 0.667 is stopped, at intervals 2, 4, ...
    pruner = BanditPruner(slack_factor=0.2, evaluation_interval=2)
    study = study_with([0.8, 0.8, 0.8])
    assert decisions(pruner, study, [0.6, 0.6]) == [False, True]
    assert decisions(pruner, study, [0.67, 0.67]) == [False, False]


def test_bandit_threshold_is_best_over_one_plus_slack():
    assert BanditPruner(slack_factor=0.2).threshold(0.8) == pytest.approx(0.8 / 1.2)
    assert BanditPruner(slack_amount=0.2).threshold(0.8) == pytest.approx(0.6)


def test_bandit_slack_amount():
    pruner = BanditPruner(slack_amount=0.1)
    study = study_with([0.9])
    assert decisions(pruner, study, [0.85]) == [False]
    assert decisions(pruner, study, [0.79]) == [True]


def test_bandit_compares_with_the_best_up_to_the_same_interval():
    # The finished trial reached 0.9 only at interval 3; at interval 1 its best was 0.5.
    study = study_with([0.5, 0.7, 0.9])
    assert decisions(BanditPruner(slack_factor=0.2), study, [0.45]) == [False]


def test_bandit_delay_evaluation_and_interval_zero():
    pruner = BanditPruner(slack_factor=0.2, evaluation_interval=0, delay_evaluation=3)
    assert pruner.evaluation_interval == 1  # <= 0 is treated as 1
    assert decisions(pruner, study_with([0.8, 0.8, 0.8]), [0.1, 0.1, 0.1]) == [
        False,
        False,
        True,
    ]


def test_bandit_needs_exactly_one_slack():
    with pytest.raises(ConfigError, match="exactly one of slack_factor and slack_amount"):
        build_pruner({"type": "bandit"})
    with pytest.raises(ConfigError, match="exactly one"):
        BanditPruner(slack_factor=0.1, slack_amount=0.1)


def test_bandit_minimize_goal():
    pruner = BanditPruner(slack_factor=0.2)
    study = study_with([1.0], direction="minimize")
    assert decisions(pruner, study, [1.1]) == [False]
    assert decisions(pruner, study, [1.3]) == [True]  # > B * (1 + 0.2)


def test_median_stopping_against_running_averages():
    # Running averages at interval 2: 0.6, 0.7, 0.8 -> median 0.7.
    study = study_with([0.5, 0.7], [0.6, 0.8], [0.7, 0.9])
    pruner = MedianStoppingPruner(evaluation_interval=1, delay_evaluation=2)
    assert decisions(pruner, study, [0.2, 0.69]) == [False, True]
    assert decisions(pruner, study, [0.2, 0.71]) == [False, False]


def test_median_stopping_alone_never_stops():
    assert decisions(MedianStoppingPruner(), study_with(), [0.0, 0.0]) == [False, False]


def test_truncation_selection_stops_the_lowest_percentage():
    # Four finished trials + this one = 5 ranked at interval 1; 20 % -> the lowest one.
    study = study_with([0.5], [0.6], [0.7], [0.8])
    pruner = TruncationSelectionPruner(20)
    assert decisions(pruner, study, [0.4]) == [True]
    assert decisions(pruner, study, [0.55]) == [False]


def test_truncation_selection_ranks_values_at_the_same_interval():
    study = study_with([0.9, 0.1], [0.9, 0.2], [0.9, 0.3])
    pruner = TruncationSelectionPruner(25, evaluation_interval=2)
    assert decisions(pruner, study, [0.0, 0.15]) == [False, False]  # 2nd lowest of 4
    assert decisions(pruner, study, [0.0, 0.05]) == [False, True]


def test_truncation_selection_can_exclude_finished_trials():
    study = study_with([0.5], [0.6])
    pruner = TruncationSelectionPruner(50, exclude_finished_jobs=True)
    assert decisions(pruner, study, [0.1]) == [False]  # ranked alone: floor(1 * 0.5) = 0


def test_truncation_percentage_is_checked():
    with pytest.raises(ConfigError, match="truncation_percentage"):
        build_pruner({"type": "truncation_selection"})
    with pytest.raises(ConfigError, match="1..99"):
        TruncationSelectionPruner(0)


@pytest.mark.parametrize(
    "settings",
    [
        {"type": "bandit", "slack_factor": 0.2, "evaluation_interval": 2, "delay_evaluation": 6},
        {"type": "median_stopping", "evaluation_interval": 1, "delay_evaluation": 5},
        {"type": "truncation_selection", "truncation_percentage": 20},
    ],
)
def test_pruner_spec_rebuilds_the_same_pruner(settings):
    import importlib

    spec = pruner_spec(settings)
    module, _, name = spec["class"].rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**spec["kwargs"])
    assert vars(rebuilt) == vars(build_pruner(settings))
