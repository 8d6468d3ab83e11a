"""`random` sampling: plain or, with `rule: sobol`, Sobol quasi-random points (seedable)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from automl import schemas
from automl.engine.errors import ConfigError
from automl.engine.sweep.samplers._base import register_sampler

RULES = tuple(schemas.sampler_rules())  # random, sobol


@register_sampler("random")
def build_random_sampler(settings: Mapping[str, Any], space):
    """RandomSampler(seed), or QMCSampler(sobol) when `rule: sobol` (`settings` has the
    schema's defaults: seed null, rule random)."""
    import optuna

    seed = settings["seed"]
    rule = str(settings["rule"] or schemas.sampler_options("random")["rule"]).lower()
    if rule not in RULES:
        raise ConfigError(
            f"$.sweep.sampling_algorithm.rule: unknown rule {settings.get('rule')!r}; "
            f"use one of {', '.join(RULES)}"
        )
    if rule == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # Always scrambled: an unscrambled Sobol sequence starts at the lower corner of the
    # space (every bound at once), a poor first trial and -4.75 sigma for normals.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.QMCSampler(
            qmc_type="sobol",
            scramble=True,
            seed=seed,
            independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            warn_asynchronous_seeding=False,
            warn_independent_sampling=False,
        )
