"""Which trials a job will run, as resolved training parameters, before it runs.

- a single trial: the user's parameters;
- a grid sweep: the grid's points in order (its size may be below max_trials);
- a random or Bayesian sweep: one representative configuration per combination of the
  values that set a trial's cost (model, sizes, epochs, batch sizes) in each sub-space, a
  numeric range at its middle; the trials take them in turn;
- AutoMode: its portfolio (engine/sweep/automode.py) first, then the TPE trials, which
  search around the portfolio's configurations (taken in turn).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

from automl.engine.sweep.space import Choice, Fixed, Normal, Randint, Uniform

# The keys of a trial whose values change how long it takes (the rest, e.g. the learning
# rate, change what it learns, not the time of an epoch).
COST_KEYS = (
    "model_name",
    "model_size",
    "number_of_epochs",
    "training_batch_size",
    "validation_batch_size",
    "training_crop_size",
    "validation_crop_size",
    "validation_resize_size",
    "image_size",
    "min_size",
    "max_size",
    "tile_grid_size",
    "layers_to_freeze",
    "evaluation_frequency",
)


@dataclass
class PlannedTrials:
    """The job's trials in order (resolved parameters) and how many it can reach."""

    configs: list[dict]
    reachable: int | None = None  # a grid's size (None: no bound besides max_trials)


def planned_trials(job, sweep_plan, resolver) -> PlannedTrials:
    """The trials `job` runs under `sweep_plan` (engine/sweep/plan.py), resolved."""
    fixed = dict(sweep_plan.fixed_params)
    if sweep_plan.automode is not None:
        params = list(sweep_plan.automode.portfolio)
        reachable = None
    elif sweep_plan.mode == "sweep":
        params, reachable = _sweep_params(sweep_plan)
    else:
        params, reachable = [{}], None
    configs = [resolver(job.task, {**fixed, **p}) for p in params]
    n_trials = sweep_plan.max_trials if reachable is None else min(reachable, sweep_plan.max_trials)
    ordered = [configs[i % len(configs)] for i in range(n_trials)]
    return PlannedTrials(ordered, reachable)


def _sweep_params(sweep_plan) -> tuple[list[dict], int | None]:
    space = sweep_plan.space
    if str(sweep_plan.sampling.get("type", "")).lower() == "grid":
        points = [point["params"] for point in space.grid_points()]
        return points, len(points)
    params = []
    for subspace in space.subspaces:
        params += _representatives(subspace)
    return params or [{}], None


def _representatives(subspace: dict) -> list[dict]:
    """One parameter set per combination of the sub-space's cost values."""
    varying = {k: d.values for k, d in subspace.items() if k in COST_KEYS and isinstance(d, Choice)}
    typical = {k: typical_value(d) for k, d in subspace.items() if k not in varying}
    combos = itertools.product(*varying.values()) if varying else [()]
    return [{**typical, **dict(zip(varying, combo, strict=True))} for combo in combos]


def typical_value(distribution):
    """A distribution's middle value (a choice's first), as a planned trial's value."""
    if isinstance(distribution, Fixed):
        return distribution.value
    if isinstance(distribution, Choice):
        return distribution.values[0]
    if isinstance(distribution, Randint):
        return distribution.upper // 2
    if isinstance(distribution, Uniform):
        return _uniform_middle(distribution)
    if isinstance(distribution, Normal):
        value = math.exp(distribution.mu) if distribution.log else distribution.mu
        return round(value) if float(distribution.mu).is_integer() else value
    raise TypeError(f"unknown distribution {distribution!r}")


def _uniform_middle(distribution: Uniform):
    middle = (distribution.low + distribution.high) / 2.0
    value = distribution.base**middle if distribution.log else middle
    integral = all(float(x).is_integer() for x in (distribution.low, distribution.high))
    return round(value) if integral and not distribution.log else value


def cost_key(config: dict) -> str:
    """Configurations with the same key cost the same per epoch (one calibration)."""
    return json.dumps(
        {k: config.get(k) for k in COST_KEYS if k != "number_of_epochs"}, sort_keys=True
    )
