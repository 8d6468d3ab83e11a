"""Traffic between an endpoint's deployments, as Azure has it (docs/azure-compatibility.md
§14.3): `--traffic "blue=90 green=10"` weights that sum to 100 (or 0: no traffic), at most
one mirrored deployment at most 50 %, and the weighted choice of a deployment per request.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from automl.engine.errors import AutomlError
from automl.engine.utils.quoting import quote

MAX_MIRROR_PERCENT = 50


class TrafficError(AutomlError):
    """A traffic or mirror-traffic setting Azure would refuse."""


def parse_traffic(text: str, option: str) -> dict[str, int]:
    """'blue=90 green=10' (spaces or commas between pairs) -> {'blue': 90, 'green': 10}."""
    pairs: dict[str, int] = {}
    for item in text.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if not sep or not name or not value.strip().isdigit():
            raise TrafficError(
                f"{option} {quote(text)}: {quote(item)} is not NAME=PERCENT",
                hint=f'e.g. {option} "blue=90 green=10"',
            )
        if name in pairs:
            raise TrafficError(f"{option} {quote(text)}: {name!r} is given twice")
        pairs[name] = int(value)
    return pairs


def check_names(given: Iterable[str], deployments: list[str], where: str, endpoint: str) -> None:
    """Every name in `given` is a deployment of the endpoint (did-you-mean otherwise)."""
    for name in given:
        if name not in deployments:
            raise unknown_deployment(name, deployments, where, endpoint)


def unknown_deployment(
    name: str, deployments: list[str], where: str, endpoint: str
) -> TrafficError:
    close = difflib.get_close_matches(name, deployments, n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    known = ", ".join(deployments) or "none yet"
    return TrafficError(
        f"{where}: endpoint {endpoint!r} has no deployment {name!r}{guess} (deployments: {known})",
        hint=f"create it first: automl deployment create --file deployment.yml "
        f"(list them with automl deployment list -e {endpoint})",
    )


def check_traffic(traffic: Mapping[str, int], where: str) -> None:
    """Each weight 0-100, their sum 0 or 100 (Azure's rule)."""
    for name, percent in traffic.items():
        if not 0 <= percent <= 100:
            raise TrafficError(f"{where}: {name}={percent} is not a percent (0-100)")
    total = sum(traffic.values())
    if total not in (0, 100):
        shown = " ".join(f"{name}={percent}" for name, percent in traffic.items())
        raise TrafficError(
            f"{where}: the weights {quote(shown)} sum to {total}; they must sum to 100 "
            "(or to 0, which stops all traffic that names no deployment)",
            hint='e.g. --traffic "blue=90 green=10"',
        )


def check_mirror(mirror: Mapping[str, int], traffic: Mapping[str, int], where: str) -> None:
    """One mirrored deployment at most, at most 50 %, never one with live traffic."""
    active = {name: percent for name, percent in mirror.items() if percent > 0}
    if len(active) > 1:
        raise TrafficError(
            f"{where}: mirror traffic goes to one deployment at most, got {', '.join(active)}"
        )
    for name, percent in active.items():
        if percent > MAX_MIRROR_PERCENT:
            raise TrafficError(
                f"{where}: {name}={percent}: at most {MAX_MIRROR_PERCENT} % can be mirrored"
            )
        if traffic.get(name, 0) > 0:
            raise TrafficError(
                f"{where}: {name!r} has live traffic ({traffic[name]} %); a deployment gets "
                "live or mirrored traffic, not both",
                hint=f'move its live traffic first (--traffic "... {name}=0")',
            )


def full_traffic(given: Mapping[str, int], deployments: Iterable[str]) -> dict[str, int]:
    """Every deployment with its weight: the ones not named get 0 (`--traffic` replaces
    the whole split, as Azure's update does)."""
    return {name: int(given.get(name, 0)) for name in deployments}


def active_mirror(mirror: Mapping[str, int]) -> dict[str, int]:
    """The mirror setting without zero entries (`green=0` clears a mirror)."""
    return {name: percent for name, percent in mirror.items() if percent > 0}


@dataclass(frozen=True)
class TrafficSplit:
    """The weighted choice of a deployment for a request that names none."""

    names: tuple[str, ...]
    bounds: tuple[int, ...]  # cumulative weights: names[i] takes draws below bounds[i]

    @classmethod
    def of(cls, traffic: Mapping[str, int]) -> TrafficSplit:
        names, bounds, total = [], [], 0
        for name, percent in traffic.items():
            if percent > 0:
                total += percent
                names.append(name)
                bounds.append(total)
        return cls(tuple(names), tuple(bounds))

    def choose(self, draw: float | None = None) -> str | None:
        """A deployment with probability weight/100; None when nothing has traffic."""
        if not self.names:
            return None
        point = (random.random() if draw is None else draw) * self.bounds[-1]
        for name, bound in zip(self.names, self.bounds, strict=True):
            if point < bound:
                return name
        return self.names[-1]
