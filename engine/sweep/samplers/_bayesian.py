"""`bayesian` sampling: TPE, multivariate and grouped so conditional sub-spaces work too."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from automl.engine.sweep.samplers._base import register_sampler

N_STARTUP_TRIALS = 10  # Optuna's default: random points before the model takes over


@register_sampler("bayesian")
def build_bayesian_sampler(settings: Mapping[str, Any], space):
    """TPESampler(multivariate=True, group=True, constant_liar=True).

    `group` splits the history by sub-space so each conditional sub-space gets its own
    model; `constant_liar` keeps concurrent trials from piling onto one point.
    `n_startup_trials` (our extension) shortens the random start, e.g. after AutoMode's
    portfolio, whose trials already are observations.
    """
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=settings.get("seed"),
            multivariate=True,
            group=True,
            constant_liar=True,
            n_startup_trials=int(settings.get("n_startup_trials", N_STARTUP_TRIALS)),
        )
