"""Azure search spaces as Optuna define-by-run suggestions (docs/azure-compatibility.md §2.5, §5.1).

A job's `search_space` is a list of sub-spaces. A trial first picks a sub-space (the
categorical parameter `__subspace`, only when there are several), then suggests each of its
hyperparameters. Every distribution keeps Azure's meaning:

- `loguniform(min, max)` = logbase ** uniform(min, max): the bounds are exponents;
- `randint(upper)` = an integer in [0, upper);
- q-variants round to the nearest multiple of q; with integer arguments they give ints;
- `normal`/`lognormal` are sampled through their quantile: Optuna stores u in (0, 1) and the
  value is mu + sigma * inverse_normal_cdf(u), so random and Sobol sampling stay exact and
  TPE models the quantile.

Optuna stores the sampling coordinate; the hyperparameter values a trial runs with (what the
user sees) come from `SearchSpace.suggest` and are kept in the trial's user attributes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from automl.engine.errors import ConfigError

SUBSPACE_PARAM = "__subspace"
_STANDARD_NORMAL = NormalDist()
_QUANTILE_LOW, _QUANTILE_HIGH = 1e-6, 1.0 - 1e-6  # +-4.75 sigma: the tails cut are negligible
_PRIMITIVES = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Fixed:
    """A literal value: every trial of the sub-space gets it."""

    value: Any

    def suggest(self, trial, name: str) -> Any:
        return self.value

    def grid_values(self) -> list:
        return [self.value]


@dataclass(frozen=True)
class Choice:
    """`choice(values)`: one of the listed values."""

    values: tuple

    def suggest(self, trial, name: str) -> Any:
        if len(self.values) == 1:
            return self.values[0]
        if all(isinstance(value, _PRIMITIVES) for value in self.values):
            return trial.suggest_categorical(name, self.values)
        # Optuna stores only primitives: nested values (dicts, lists) are chosen by index.
        return self.values[trial.suggest_categorical(name, tuple(range(len(self.values))))]

    def grid_values(self) -> list:
        return list(self.values)

    def optuna_value(self, index: int) -> Any:
        """What Optuna stores for `values[index]` (None: nothing is suggested)."""
        if len(self.values) == 1:
            return None
        if all(isinstance(value, _PRIMITIVES) for value in self.values):
            return self.values[index]
        return index


@dataclass(frozen=True)
class Randint:
    """`randint(upper)`: an integer in [0, upper)."""

    upper: int

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, 0, self.upper - 1)


@dataclass(frozen=True)
class Uniform:
    """`uniform`, `loguniform` (log=True: bounds are exponents of `base`) and their q-forms."""

    low: float
    high: float
    log: bool = False
    q: float | None = None
    base: float = math.e

    def suggest(self, trial, name: str) -> float | int:
        if self.log:
            value = trial.suggest_float(name, self.base**self.low, self.base**self.high, log=True)
        else:
            value = trial.suggest_float(name, self.low, self.high)
        return _quantize(value, self.q, integral=_all_int(self.low, self.high, self.q))


@dataclass(frozen=True)
class Normal:
    """`normal`, `lognormal` (log=True: exp of a normal) and their q-forms."""

    mu: float
    sigma: float
    log: bool = False
    q: float | None = None

    def suggest(self, trial, name: str) -> float | int:
        quantile = trial.suggest_float(name, _QUANTILE_LOW, _QUANTILE_HIGH)
        value = self.mu + self.sigma * _STANDARD_NORMAL.inv_cdf(quantile)
        if self.log:
            value = math.exp(value)
        return _quantize(value, self.q, integral=_all_int(self.mu, self.sigma, self.q))


def _all_int(*numbers: float | None) -> bool:
    return all(isinstance(n, int) and not isinstance(n, bool) for n in numbers if n is not None)


def _quantize(value: float, q: float | None, *, integral: bool) -> float | int:
    if q is None:
        return value
    rounded = math.floor(value / q + 0.5) * q  # round half up, as Azure's round(x / q) * q
    return int(rounded) if integral else round(rounded, 12)


Distribution = Fixed | Choice | Randint | Uniform | Normal


def parse_distribution(spec: Any, where: str, *, logbase: float = math.e) -> Distribution:
    """One search-space value (a literal or `{type: ..., ...}`) -> a distribution."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        return Fixed(spec)
    kind = str(spec["type"]).lower()
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ConfigError(
            f"{where}: unknown distribution type {spec['type']!r}; "
            f"use one of {', '.join(sorted(_BUILDERS))}"
        )
    try:
        return builder(spec, logbase)
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(
            f"{where}: invalid {kind} distribution {dict(spec)!r} ({error}); "
            f"see docs/azure-compatibility.md §2.5 for its keys"
        ) from None


def _choice(spec: Mapping, logbase: float) -> Choice:
    values = tuple(spec["values"])
    if not values:
        raise ValueError("values must not be empty")
    return Choice(values)


def _randint(spec: Mapping, logbase: float) -> Randint:
    upper = spec["upper"]
    if not isinstance(upper, int) or upper < 1:
        raise ValueError(f"upper must be an integer >= 1, got {upper!r}")
    return Randint(upper)


def _uniform_builder(log: bool, quantized: bool):
    def build(spec: Mapping, logbase: float) -> Uniform:
        low, high = spec["min_value"], spec["max_value"]
        if not low < high:
            raise ValueError(f"min_value must be < max_value, got {low!r} >= {high!r}")
        q = _positive_q(spec) if quantized else None
        return Uniform(low, high, log=log, q=q, base=logbase)

    return build


def _normal_builder(log: bool, quantized: bool):
    def build(spec: Mapping, logbase: float) -> Normal:
        mu, sigma = spec["mu"], spec["sigma"]
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma!r}")
        return Normal(mu, sigma, log=log, q=_positive_q(spec) if quantized else None)

    return build


def _positive_q(spec: Mapping) -> float:
    q = spec["q"]
    if isinstance(q, bool) or not isinstance(q, (int, float)) or q <= 0:
        raise ValueError(f"q must be a number > 0, got {q!r}")
    return q


_BUILDERS = {
    "choice": _choice,
    "randint": _randint,
    "uniform": _uniform_builder(log=False, quantized=False),
    "loguniform": _uniform_builder(log=True, quantized=False),
    "quniform": _uniform_builder(log=False, quantized=True),
    "qloguniform": _uniform_builder(log=True, quantized=True),
    "normal": _normal_builder(log=False, quantized=False),
    "lognormal": _normal_builder(log=True, quantized=False),
    "qnormal": _normal_builder(log=False, quantized=True),
    "qlognormal": _normal_builder(log=True, quantized=True),
}
DISTRIBUTION_TYPES = tuple(_BUILDERS)


class SearchSpace:
    """The parsed `search_space` of a job: a list of sub-spaces of named distributions."""

    def __init__(
        self, subspaces: list[dict[str, Distribution]], *, int_keys: Iterable[str] = ()
    ) -> None:
        self.subspaces = subspaces
        self.int_keys = frozenset(int_keys)

    @classmethod
    def from_config(
        cls,
        search_space: list | Mapping | None,
        *,
        logbase: float | str = math.e,
        int_keys: Iterable[str] = (),
    ) -> SearchSpace:
        """Parse a job's `search_space` (list of dicts, a single dict, or None = empty)."""
        base = math.e if logbase in ("e", None) else float(logbase)
        if search_space is None:
            items: list = [{}]
        elif isinstance(search_space, Mapping):
            items = [search_space]
        else:
            items = list(search_space) or [{}]
        subspaces = [
            {
                key: parse_distribution(value, f"$.search_space[{index}].{key}", logbase=base)
                for key, value in dict(item).items()
            }
            for index, item in enumerate(items)
        ]
        return cls(subspaces, int_keys=int_keys)

    @property
    def is_empty(self) -> bool:
        return len(self.subspaces) == 1 and not self.subspaces[0]

    def param_name(self, subspace: int, key: str) -> str:
        """Optuna's name for `key` in a sub-space: prefixed when sub-spaces may differ."""
        return key if len(self.subspaces) == 1 else f"{subspace}:{key}"

    def suggest(self, trial) -> dict:
        """Sample one trial's hyperparameters (define-by-run) -> {key: value}."""
        index = 0
        if len(self.subspaces) > 1:
            index = trial.suggest_categorical(SUBSPACE_PARAM, tuple(range(len(self.subspaces))))
        return {
            key: self._typed(key, distribution.suggest(trial, self.param_name(index, key)))
            for key, distribution in self.subspaces[index].items()
        }

    def _typed(self, key: str, value: Any) -> Any:
        # Integer hyperparameters stay integers whatever distribution fed them.
        if key in self.int_keys and isinstance(value, float):
            return int(math.floor(value + 0.5))
        return value

    def grid_points(self) -> list[dict]:
        """The exact cartesian product of choice values, sub-space by sub-space, in order.

        Each point is {"subspace": i, "params": {key: value}, "optuna": {name: stored value}};
        the last one is what a grid sampler answers for each suggested Optuna parameter.
        """
        points = []
        for index, subspace in enumerate(self.subspaces):
            self._check_grid_subspace(index, subspace)
            keys = list(subspace)
            options = [_grid_options(subspace[key]) for key in keys]
            for combo in itertools.product(*options):
                optuna_values = {} if len(self.subspaces) == 1 else {SUBSPACE_PARAM: index}
                for key, (_, stored) in zip(keys, combo, strict=True):
                    if stored is not None:
                        optuna_values[self.param_name(index, key)] = stored
                params = {key: value for key, (value, _) in zip(keys, combo, strict=True)}
                points.append({"subspace": index, "params": params, "optuna": optuna_values})
        return points

    @staticmethod
    def _check_grid_subspace(index: int, subspace: dict[str, Distribution]) -> None:
        for key, distribution in subspace.items():
            if not isinstance(distribution, (Fixed, Choice)):
                raise ConfigError(
                    f"$.search_space[{index}].{key}: grid sampling takes only 'choice' values "
                    f"or literals, got a {type(distribution).__name__.lower()} distribution",
                    hint="use sampling_algorithm: random or bayesian, or list the values "
                    "in a choice",
                )


def _grid_options(distribution: Distribution) -> list[tuple[Any, Any]]:
    """(value, what Optuna stores) for each grid value of a Fixed or Choice."""
    if isinstance(distribution, Fixed):
        return [(distribution.value, None)]
    return [(value, distribution.optuna_value(i)) for i, value in enumerate(distribution.values)]
