"""The values a search-space distribution can draw, as the sweep's sampler draws them.

Ranges follow Azure's definitions (docs/azure-compatibility.md §2.5): `loguniform` bounds are
exponents
of the sampling algorithm's `logbase`, `randint(upper)` is 0..upper-1, q-forms round to the
nearest multiple of q. Azure's `normal` and `lognormal` have no bounds; the sweep draws them
through their quantiles within `NORMAL_QUANTILES` (about mu +- 4.75 sigma), so that range is
what a trial can get, and what `check_distribution_support` compares with the bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

# The quantiles engine/sweep/space.py draws normals within (a test keeps the two equal).
NORMAL_QUANTILES = (1e-6, 1.0 - 1e-6)
MAX_POINTS = 1000  # discrete supports up to this size are listed (for enum checks)
NORMAL_NOTE = (
    "Azure's normal distributions have no bounds; the sweep draws within about mu +- 4.75 sigma"
)


@dataclass(frozen=True)
class Support:
    """Smallest and largest value a distribution draws, and its values when few."""

    kind: str
    low: float
    high: float
    points: tuple | None = None

    def describe(self) -> str:
        text = f"{self.kind} draws values in [{_number(self.low)}, {_number(self.high)}]"
        return text + (" (as sampled here)" if self.kind.endswith("normal") else "")


def support_of(spec: dict, logbase: float = math.e) -> Support | None:
    """The `Support` of a distribution mapping; None for choice (its values are checked by
    the schema) or for a distribution the schema has already refused."""
    kind = str(spec.get("type"))
    try:
        builder = _BUILDERS[kind]
        return builder(kind, spec, logbase)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _randint(kind: str, spec: dict, logbase: float) -> Support:
    upper = int(spec["upper"])
    points = tuple(range(upper)) if upper <= MAX_POINTS else None
    return Support(kind, 0, upper - 1, points)


def _uniform(kind: str, spec: dict, logbase: float) -> Support:
    low, high = float(spec["min_value"]), float(spec["max_value"])
    if kind.endswith("loguniform"):
        low, high = _power(logbase, low), _power(logbase, high)
    return _quantized(kind, spec, low, high)


def _normal(kind: str, spec: dict, logbase: float) -> Support:
    mu, sigma = float(spec["mu"]), float(spec["sigma"])
    standard = NormalDist()
    low = mu + sigma * standard.inv_cdf(NORMAL_QUANTILES[0])
    high = mu + sigma * standard.inv_cdf(NORMAL_QUANTILES[1])
    if kind.endswith("lognormal"):
        low, high = _power(math.e, low), _power(math.e, high)
    return _quantized(kind, spec, low, high)


def _quantized(kind: str, spec: dict, low: float, high: float) -> Support:
    q = spec.get("q")
    if not kind.startswith("q") or q is None:
        return Support(kind, low, high)
    q = float(q)
    low, high = _round_to(low, q), _round_to(high, q)
    n_points = (high - low) / q + 1 if math.isfinite(high - low) else math.inf
    points = None
    if n_points <= MAX_POINTS:
        points = tuple(_clean(low + i * q) for i in range(int(round(n_points))))
    return Support(kind, low, high, points)


def _round_to(value: float, q: float) -> float:
    if not math.isfinite(value):
        return value
    return _clean(math.floor(value / q + 0.5) * q)  # as the sweep rounds: half up


def _clean(value: float) -> float:
    return round(value, 12)


def _power(base: float, exponent: float) -> float:
    try:
        return base**exponent
    except OverflowError:
        return math.inf


def _number(value: float) -> str:
    return f"{value:.6g}"


_BUILDERS = {
    "randint": _randint,
    "uniform": _uniform,
    "quniform": _uniform,
    "loguniform": _uniform,
    "qloguniform": _uniform,
    "normal": _normal,
    "qnormal": _normal,
    "lognormal": _normal,
    "qlognormal": _normal,
}


_RULES = {
    "minimum": ("low", "must be at least {}", "to at least {}"),
    "exclusiveMinimum": ("low", "must be greater than {}", "above {}"),
    "maximum": ("high", "must be at most {}", "to at most {}"),
    "exclusiveMaximum": ("high", "must be less than {}", "below {}"),
}


@dataclass(frozen=True)
class Violation:
    """Which bound of a hyperparameter a support crosses: its keyword and value."""

    keyword: str
    bound: Any

    @property
    def side(self) -> str:
        return _RULES[self.keyword][0] if self.keyword in _RULES else "enum"

    def rule(self) -> str:
        if self.keyword == "enum":
            return "must be one of " + ", ".join(str(v) for v in self.bound)
        return _RULES[self.keyword][1].format(self.bound)


def outside_bounds(schema: dict, support: Support) -> Violation | None:
    """The first bound of a hyperparameter's `schema` that `support` crosses, else None."""
    low, high = support.low, support.high
    crossed = {
        "minimum": lambda b: low < b,
        "exclusiveMinimum": lambda b: low <= b,
        "maximum": lambda b: high > b,
        "exclusiveMaximum": lambda b: high >= b,
    }
    for keyword, test in crossed.items():
        if keyword in schema and test(schema[keyword]):
            return Violation(keyword, schema[keyword])
    enum = schema.get("enum")
    if enum is not None and (support.points is None or any(p not in enum for p in support.points)):
        return Violation("enum", enum)
    return None


def how_to_fix(support: Support, violation: Violation, logbase: float) -> str:
    """What to change in the distribution so that every draw is allowed."""
    kind, side = support.kind, violation.side
    if side == "enum":
        return "list the allowed values with type: choice"
    if kind.endswith("normal"):
        return f"{NORMAL_NOTE}: narrow sigma or move mu, or use a uniform distribution"
    if kind == "randint":
        if side == "low":
            return "randint draws from 0: use quniform or choice for a range that starts higher"
        return f"set upper to at most {math.floor(violation.bound) + 1}"
    key = "min_value" if side == "low" else "max_value"
    if kind == "qloguniform" and violation.bound <= 0:
        return "raise min_value (an exponent) or lower q: small draws round to 0"
    if kind in ("loguniform", "qloguniform") and violation.bound > 0:
        exponent = _number(math.log(violation.bound, logbase))
        base = "e" if logbase == math.e else _number(logbase)
        return f"{key} is an exponent of {base}: for {violation.bound} write {key}: {exponent}"
    target = _RULES[violation.keyword][2].format(violation.bound)
    rounded = " (draws round to multiples of q)" if kind.startswith("q") else ""
    return f"set {key} {target}{rounded}"
