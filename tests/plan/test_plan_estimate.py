"""The plan's arithmetic (engine/plan/estimate.py): wall time, range, hours, warnings."""

from __future__ import annotations

import pytest

from automl.engine.plan.estimate import JobShape, TrialCost, estimate, schedule

BANDIT = {"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 1, "delay_evaluation": 2}


def trial(epochs: int = 10, train_s: float = 10.0, valid_s: float = 2.0, **extra) -> TrialCost:
    return TrialCost("resnet18", epochs, train_s, valid_s, overhead_s=5.0, **extra)


def shape(n_trials: int = 1, slots: int = 1, **extra) -> JobShape:
    return JobShape(
        trials=[trial() for _ in range(n_trials)],
        max_trials=extra.pop("max_trials", n_trials),
        slots=slots,
        device=extra.pop("device", "cpu"),
        **extra,
    )


def test_a_single_trial_costs_its_overhead_and_every_epoch():
    plan = estimate(shape())
    assert plan["wall_seconds"] == 5.0 + 10 * (10.0 + 2.0)
    assert plan["wall_seconds_range"] == [125.0, 125.0]
    assert plan["warnings"] == []


def test_the_json_keys_scripts_read():
    plan = estimate(shape())
    for key in ("wall_seconds", "wall_seconds_range", "gpu_hours", "cpu_hours", "trials"):
        assert key in plan
    low, high = plan["wall_seconds_range"]
    assert low <= plan["wall_seconds"] <= high


def test_concurrent_trials_share_the_wall_time():
    assert estimate(shape(4, slots=2))["wall_seconds"] == 2 * 125.0
    assert estimate(shape(3, slots=2))["wall_seconds"] == 2 * 125.0
    assert schedule([10.0, 1.0, 1.0], 2) == (10.0, [10.0, 1.0, 2.0])


def test_early_termination_lowers_the_expected_time_not_the_worst_case():
    plain = estimate(shape(8, slots=2))
    pruned = estimate(shape(8, slots=2, early_termination=BANDIT))
    assert pruned["wall_seconds"] < plain["wall_seconds"]
    assert pruned["wall_seconds_range"][0] < pruned["wall_seconds"]
    assert pruned["wall_seconds_range"][1] == plain["wall_seconds"]
    assert pruned["wall_seconds_without_early_termination"] == plain["wall_seconds"]
    # the first wave (2 slots) is never pruned: its trials run every epoch
    assert [t["seconds_range"][0] for t in pruned["trials"][:2]] == [125.0, 125.0]


def test_early_stopping_gives_the_range_its_low_end():
    job = JobShape([trial(early_stop_epoch=3)], 1, 1, "cpu")
    low, high = estimate(job)["wall_seconds_range"]
    assert low == 5.0 + 3 * 12.0 and high == 125.0


def test_gpu_hours_and_cost_on_gpus_cpu_hours_on_cpu():
    gpu = estimate(shape(4, slots=2, device="cuda", gpus_per_trial=1), price_per_gpu_hour=3.0)
    assert gpu["gpus"] == 2
    assert gpu["gpu_hours"] == pytest.approx(250.0 * 2 / 3600, abs=1e-4)
    assert gpu["cost"] == round(gpu["gpu_hours"] * 3.0, 2)
    cpu = estimate(shape(n_cpus=8), price_per_gpu_hour=3.0)
    assert cpu["gpu_hours"] == 0.0 and cpu["cost"] == 0.0
    assert cpu["cpu_hours"] == pytest.approx(125.0 * 8 / 3600, abs=1e-4)


def test_a_too_short_timeout_is_warned_with_the_setting_that_fits():
    (warning,) = estimate(shape(4, timeout_minutes=5))["warnings"]  # 4 x 125 s = 8.3 min
    assert "limits.timeout_minutes 5" in warning
    assert "after about 2 of its 4 trials" in warning
    assert "max_trials 4 cannot be reached" in warning
    assert "timeout_minutes: 9" in warning and "max_trials: 2" in warning


def test_a_timeout_that_fits_is_not_warned():
    assert estimate(shape(4, timeout_minutes=9))["warnings"] == []


def test_max_trials_beyond_the_grid_is_warned():
    (warning,) = estimate(shape(3, max_trials=10, reachable_trials=3))["warnings"]
    assert "max_trials 10 cannot be reached" in warning and "max_trials: 3" in warning


def test_a_too_short_trial_timeout_is_warned_once_per_model():
    (warning,) = estimate(shape(3, trial_timeout_minutes=1))["warnings"]
    assert "trial_timeout_minutes 1 cuts the trials of resnet18" in warning
    assert "trial_timeout_minutes: 3" in warning and "number_of_epochs: 4" in warning
