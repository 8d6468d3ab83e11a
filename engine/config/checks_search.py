"""Cross-field rules of the search space: sampling algorithm, overlap with the fixed
parameters, and that every distribution draws only values its hyperparameter accepts."""

from __future__ import annotations

import math
from collections.abc import Iterator

from automl import schemas
from automl.engine.config.context import CheckContext, is_distribution
from automl.engine.config.issues import Issue, warning
from automl.engine.config.support import how_to_fix, outside_bounds, support_of
from automl.engine.utils.quoting import quote

# Distributions bayesian sampling supports (docs/azure-compatibility.md §5.2).
BAYESIAN_DISTRIBUTIONS = ("choice", "uniform", "quniform")


def check_grid_uses_choice_only(ctx: CheckContext) -> Iterator[Issue]:
    if ctx.algorithm != "grid":
        return
    for index, sub in enumerate(ctx.search_space):
        for key, value in sub.items():
            if is_distribution(value) and value.get("type") != "choice":
                yield Issue(
                    ("search_space", index, key, "type"),
                    f"grid sampling needs choice distributions, got {value['type']!r}; "
                    "list the values with type: choice, or use random sampling",
                )


def check_bayesian_beyond_azure(ctx: CheckContext) -> Iterator[Issue]:
    """Our bayesian sampler (multivariate, grouped TPE) handles every distribution, several
    sub-spaces and early termination; Azure refuses those, so say so for portability."""
    if ctx.algorithm != "bayesian":
        return
    note = "; it runs here (TPE), but Azure ML would refuse this job"
    for index, sub in enumerate(ctx.search_space):
        for key, value in sub.items():
            if is_distribution(value) and value.get("type") not in BAYESIAN_DISTRIBUTIONS:
                yield warning(
                    ("search_space", index, key, "type"),
                    f"Azure's bayesian sampling takes only choice, uniform and quniform, "
                    f"got {value['type']!r}{note}",
                )
    if len(ctx.search_space) > 1:
        yield warning(
            ("search_space",),
            f"Azure's bayesian sampling takes one sub-space, got {len(ctx.search_space)}{note}",
        )
    if (ctx.sweep or {}).get("early_termination"):
        yield warning(
            ("sweep", "early_termination"),
            f"Azure's bayesian sampling takes no early termination{note}",
        )


def check_fixed_not_searched(ctx: CheckContext) -> Iterator[Issue]:
    fixed = ctx.training_parameters
    for index, sub in enumerate(ctx.search_space):
        for key in sub:
            if key in fixed:
                yield Issue(
                    ("search_space", index, key),
                    f"{quote(key)} is both fixed in "
                    "training_parameters and searched here; remove one of them",
                )


def check_distribution_bounds(ctx: CheckContext) -> Iterator[Issue]:
    for index, sub in enumerate(ctx.search_space):
        for key, value in sub.items():
            low, high = (
                (value.get("min_value"), value.get("max_value"))
                if is_distribution(value)
                else (None, None)
            )
            if low is not None and high is not None and low > high:
                yield Issue(
                    ("search_space", index, key),
                    f"min_value {low} is above max_value {high}; swap them",
                )
            elif low is not None and low == high:
                yield Issue(
                    ("search_space", index, key),
                    f"min_value equals max_value ({low}): a range of one value; "
                    "write the value itself instead of a distribution",
                )


def check_distribution_support(ctx: CheckContext) -> Iterator[Issue]:
    """Every value a distribution can draw must be valid for its hyperparameter: a learning
    rate drawn from a range below 0 would fail every trial that drew it."""
    base = _logbase(ctx)
    for index, sub in enumerate(ctx.search_space):
        for key, value in sub.items():
            schema = _hyperparameter(key)
            support = support_of(value, base) if is_distribution(value) and schema else None
            found = outside_bounds(schema, support) if support is not None else None
            if found is None:
                continue
            yield Issue(
                ("search_space", index, key),
                f"{support.describe()}, but {key} {found.rule()}; a trial drawing a value "
                f"outside would fail: {how_to_fix(support, found, base)}",
            )


def _hyperparameter(name: str) -> dict | None:
    try:
        return schemas.hyperparameter_schema(name)
    except KeyError:
        return None


def _logbase(ctx: CheckContext) -> float:
    """The base of log distributions: the sampling algorithm's logbase, e by default."""
    algorithm = (ctx.sweep or {}).get("sampling_algorithm")
    value = algorithm.get("logbase") if isinstance(algorithm, dict) else None
    if value is None or value == "e":
        return math.e
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.e  # the sweep reports an unusable logbase itself
