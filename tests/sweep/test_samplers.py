"""Samplers: random (+ Sobol), grid (exact product, no repeats), bayesian (TPE)."""

from __future__ import annotations

import optuna
import pytest

from automl.engine.errors import ConfigError, RegistryError
from automl.engine.sweep.attrs import INTERRUPTED_ATTR
from automl.engine.sweep.samplers import SAMPLERS, SweepSampler, build_sampler
from automl.engine.sweep.space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)
LR = {"type": "uniform", "min_value": 0.001, "max_value": 0.1}
SPACE = [{"learning_rate": LR, "model_name": {"type": "choice", "values": ["a", "b"]}}]


def ask_params(sampling, search_space=SPACE, n: int = 5) -> list[dict]:
    space = SearchSpace.from_config(search_space)
    study = optuna.create_study(sampler=build_sampler(sampling, space), direction="maximize")
    sampler = SweepSampler(study, space)
    params = []
    for _ in range(n):
        trial, values = sampler.ask()
        study.tell(trial, values.get("learning_rate", 0.0))
        params.append(values)
    return params


def test_registry_names():
    assert SAMPLERS.names() == ["bayesian", "grid", "random"]
    with pytest.raises(RegistryError, match="did you mean 'random'"):
        build_sampler("randon", SearchSpace.from_config(SPACE))


def test_random_with_seed_is_reproducible():
    sampling = {"type": "random", "seed": 7}
    assert ask_params(sampling) == ask_params(sampling)
    assert ask_params(sampling) != ask_params({"type": "random", "seed": 8})


def test_sobol_uses_optuna_qmc_and_is_reproducible():
    space = SearchSpace.from_config(SPACE)
    sampler = build_sampler({"type": "Random", "rule": "sobol", "seed": 3}, space)
    assert isinstance(sampler, optuna.samplers.QMCSampler)
    sampling = {"type": "random", "rule": "sobol", "seed": 3}
    assert ask_params(sampling) == ask_params(sampling)


def test_unknown_rule_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown rule 'halton'"):
        build_sampler({"type": "random", "rule": "halton"}, SearchSpace.from_config(SPACE))


def test_bayesian_is_multivariate_grouped_tpe():
    sampler = build_sampler("BAYESIAN", SearchSpace.from_config(SPACE))
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._multivariate and sampler._group
    conditional = SPACE + [
        {"model_name": "c", "momentum": {"type": "choice", "values": [0.8, 0.9]}}
    ]
    params = ask_params({"type": "bayesian", "seed": 0, "n_startup_trials": 2}, conditional, 8)
    assert {p["model_name"] for p in params} >= {"c"}


def test_grid_yields_exactly_the_combinations_then_is_exhausted():
    space_spec = [
        {
            "model_name": {"type": "choice", "values": ["a", "b"]},
            "learning_rate": {"type": "choice", "values": [0.1, 0.2, 0.3]},
        },
        {"model_name": "c", "learning_rate": 0.5},
    ]
    space = SearchSpace.from_config(space_spec)
    study = optuna.create_study(sampler=build_sampler("grid", space))
    sampler = SweepSampler(study, space)
    seen = []
    while not sampler.is_exhausted():
        trial, params = sampler.ask()
        study.tell(trial, 0.0)
        seen.append(params)
    expected = [{"model_name": m, "learning_rate": lr} for m in "ab" for lr in (0.1, 0.2, 0.3)]
    assert seen == expected + [{"model_name": "c", "learning_rate": 0.5}]


def test_grid_reuses_the_point_of_an_interrupted_trial():
    space = SearchSpace.from_config([{"x": {"type": "choice", "values": [1, 2]}}])
    study = optuna.create_study(sampler=build_sampler("grid", space))
    sampler = SweepSampler(study, space)
    first, params = sampler.ask()
    study._storage.set_trial_user_attr(first._trial_id, INTERRUPTED_ATTR, True)
    study.tell(first, state=optuna.trial.TrialState.FAIL)
    assert [sampler.ask()[1] for _ in range(2)] == [params, {"x": 2}]
    assert sampler.is_exhausted()


def test_grid_rejects_continuous_distributions():
    with pytest.raises(ConfigError, match="grid sampling takes only 'choice'"):
        build_sampler("grid", SearchSpace.from_config([{"lr": LR}]))


def test_sampler_names_are_the_schemas_enum():
    from automl import schemas
    from automl.engine.sweep.samplers import register_sampler

    assert SAMPLERS.names() == sorted(schemas.sampler_names())
    with pytest.raises(ValueError, match="not in job.schema.json"):
        register_sampler("annealing")
