"""Sweep samplers: `random` (+ Sobol), `grid`, `bayesian` (TPE), looked up by name."""

from automl.engine.sweep.samplers import _bayesian, _grid, _random  # noqa: F401  (register)
from automl.engine.sweep.samplers._base import (
    PARAMS_ATTR,
    SAMPLERS,
    SweepSampler,
    build_sampler,
    normalize_sampling,
    register_sampler,
)

__all__ = [
    "PARAMS_ATTR",
    "SAMPLERS",
    "SweepSampler",
    "build_sampler",
    "normalize_sampling",
    "register_sampler",
]
