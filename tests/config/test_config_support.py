"""Search-space distributions are checked against their hyperparameter's bounds; ones that
stay inside are valid, and the support computed here is what the sweep samples."""

from __future__ import annotations

import pytest
from config_jobs import job_text  # tests/config/config_jobs.py

from automl.engine.config import load_job
from automl.engine.config.support import NORMAL_QUANTILES, support_of

SWEEP = "limits: {max_trials: 4}\nsweep: {sampling_algorithm: random}\n"


def test_normal_range_is_the_one_the_sweep_samples():
    from automl.engine.sweep import space

    assert NORMAL_QUANTILES == (space._QUANTILE_LOW, space._QUANTILE_HIGH)


@pytest.mark.parametrize(
    "distribution",
    [
        "learning_rate: {type: uniform, min_value: 0.001, max_value: 1}",
        "learning_rate: {type: loguniform, min_value: -9, max_value: 0}",
        "learning_rate: {type: normal, mu: 0.1, sigma: 0.01}",
        "learning_rate: {type: lognormal, mu: -5, sigma: 0.5}",
        "momentum: {type: quniform, min_value: 0.5, max_value: 1.04, q: 0.1}",
        "weighted_loss: {type: randint, upper: 3}",
        "number_of_epochs: {type: quniform, min_value: 1, max_value: 30, q: 1}",
        "training_batch_size: {type: qloguniform, min_value: 1, max_value: 5, q: 2}",
        "layers_to_freeze: {type: randint, upper: 5}",
    ],
)
def test_distributions_inside_the_bounds_are_valid(write_job, distribution):
    job = load_job(write_job(job_text(SWEEP + f"search_space: [{{{distribution}}}]\n")))
    assert job.mode == "sweep"


def test_support_follows_azure_definitions():
    assert (
        support_of({"type": "randint", "upper": 3}).low,
        support_of({"type": "randint", "upper": 3}).high,
    ) == (0, 2)
    log10 = support_of({"type": "loguniform", "min_value": -3, "max_value": 0}, logbase=10)
    assert (log10.low, log10.high) == pytest.approx((0.001, 1.0))
    quantized = support_of({"type": "quniform", "min_value": 0.04, "max_value": 0.96, "q": 0.1})
    assert (quantized.low, quantized.high) == (0.0, 1.0)
    assert support_of({"type": "choice", "values": [1]}) is None
