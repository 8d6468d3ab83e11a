"""Search spaces: Azure's ten distributions, sub-spaces, grid points."""

from __future__ import annotations

import math
import statistics

import optuna
import pytest

from automl.engine.errors import ConfigError
from automl.engine.sweep.space import SUBSPACE_PARAM, SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample(search_space, n: int = 300, **kwargs) -> list[dict]:
    space = SearchSpace.from_config(search_space, **kwargs)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [space.suggest(study.ask()) for _ in range(n)]


def values_of(spec: dict, n: int = 300, **kwargs) -> list:
    return [p["x"] for p in sample([{"x": spec}], n, **kwargs)]


def test_literal_and_choice():
    values = sample([{"a": 3, "b": {"type": "choice", "values": ["u", "v"]}}], 50)
    assert {p["a"] for p in values} == {3}
    assert {p["b"] for p in values} == {"u", "v"}


def test_choice_of_nested_values_is_chosen_by_index():
    values = values_of({"type": "choice", "values": [{"k": 1}, {"k": 2}]}, 50)
    assert {v["k"] for v in values} == {1, 2}


def test_randint_is_zero_to_upper_exclusive():
    values = values_of({"type": "randint", "upper": 4})
    assert set(values) == {0, 1, 2, 3}
    assert all(isinstance(v, int) for v in values)


def test_uniform_within_bounds():
    values = values_of({"type": "uniform", "min_value": 0.1, "max_value": 0.2})
    assert min(values) >= 0.1 and max(values) <= 0.2


def test_loguniform_bounds_are_exponents():
    values = values_of({"type": "loguniform", "min_value": -6, "max_value": -2})
    assert min(values) >= math.exp(-6) and max(values) <= math.exp(-2)
    logs = [math.log(v) for v in values]
    assert statistics.fmean(logs) == pytest.approx(-4, abs=0.3)  # uniform in log space


def test_loguniform_with_logbase_10():
    spec = {"type": "loguniform", "min_value": -4, "max_value": -1}
    values = values_of(spec, logbase=10)
    assert min(values) >= 1e-4 and max(values) <= 1e-1


def test_quniform_rounds_to_q_and_int_arguments_give_ints():
    values = values_of({"type": "quniform", "min_value": 16, "max_value": 64, "q": 8})
    assert all(isinstance(v, int) and v % 8 == 0 for v in values)
    assert set(values) <= set(range(16, 65, 8))
    floats = values_of({"type": "quniform", "min_value": 0.0, "max_value": 1.0, "q": 0.25})
    assert set(floats) <= {0.0, 0.25, 0.5, 0.75, 1.0}


def test_qloguniform_rounds_the_exponential():
    values = values_of({"type": "qloguniform", "min_value": 0, "max_value": 5, "q": 10})
    assert all(isinstance(v, int) and v % 10 == 0 for v in values)
    assert min(values) >= 0 and max(values) <= 150  # e^5 = 148.4 -> 150


def test_normal_has_mu_and_sigma():
    values = values_of({"type": "normal", "mu": 10.0, "sigma": 2.0}, 1000)
    assert statistics.fmean(values) == pytest.approx(10.0, abs=0.3)
    assert statistics.stdev(values) == pytest.approx(2.0, abs=0.3)


def test_lognormal_is_exp_of_normal():
    values = values_of({"type": "lognormal", "mu": 0.0, "sigma": 0.5}, 1000)
    assert min(values) > 0
    assert statistics.fmean(math.log(v) for v in values) == pytest.approx(0.0, abs=0.1)


def test_qnormal_and_qlognormal_round_to_q():
    values = values_of({"type": "qnormal", "mu": 50, "sigma": 10, "q": 5})
    assert all(isinstance(v, int) and v % 5 == 0 for v in values)
    logs = values_of({"type": "qlognormal", "mu": 1.0, "sigma": 0.5, "q": 0.5})
    assert all(v == pytest.approx(round(v / 0.5) * 0.5) for v in logs)


def test_integer_hyperparameters_stay_int():
    spec = [{"training_batch_size": {"type": "uniform", "min_value": 8, "max_value": 32}}]
    values = sample(spec, 50, int_keys={"training_batch_size"})
    assert all(isinstance(p["training_batch_size"], int) for p in values)


def test_subspaces_pick_one_then_its_parameters():
    spec = [
        {"model_name": "a", "learning_rate": {"type": "uniform", "min_value": 0, "max_value": 1}},
        {"model_name": "b", "momentum": {"type": "choice", "values": [0.8, 0.9]}},
    ]
    values = sample(spec, 100)
    assert {p["model_name"] for p in values} == {"a", "b"}
    for params in values:
        expected = {"model_name", "learning_rate" if params["model_name"] == "a" else "momentum"}
        assert set(params) == expected


def test_subspace_parameter_names_are_prefixed_in_optuna():
    space = SearchSpace.from_config([{"x": {"type": "randint", "upper": 3}}, {"x": 1}])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    space.suggest(trial)
    assert SUBSPACE_PARAM in trial.params


def test_grid_points_are_the_cartesian_product_per_subspace():
    space = SearchSpace.from_config(
        [
            {
                "m": "a",
                "x": {"type": "choice", "values": [1, 2]},
                "y": {"type": "choice", "values": ["p", "q", "r"]},
            },  # noqa: E501
            {"m": "b", "x": {"type": "choice", "values": [5]}},
        ]
    )
    points = [p["params"] for p in space.grid_points()]
    assert points == [{"m": "a", "x": x, "y": y} for x in (1, 2) for y in ("p", "q", "r")] + [
        {"m": "b", "x": 5}
    ]


def test_grid_on_a_continuous_distribution_fails_clearly():
    space = SearchSpace.from_config([{"lr": {"type": "uniform", "min_value": 0, "max_value": 1}}])
    with pytest.raises(ConfigError, match=r"search_space\[0\]\.lr: grid sampling"):
        space.grid_points()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "gaussian", "mu": 0}, "unknown distribution type 'gaussian'"),
        ({"type": "uniform", "min_value": 2, "max_value": 1}, "min_value must be < max_value"),
        ({"type": "randint", "upper": 0}, "upper must be an integer >= 1"),
        ({"type": "quniform", "min_value": 0, "max_value": 1, "q": 0}, "q must be a number > 0"),
        ({"type": "normal", "mu": 0}, "invalid normal distribution"),
    ],
)
def test_bad_distributions_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_config([{"x": spec}])
