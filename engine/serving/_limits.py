"""The endpoint's bounds (schemas/limits.json, each overridable by a `model serve` flag) and
the server-wide ones it enforces at run time: requests at once, and the request bodies and
decoded pixels held at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields

from automl.engine.serving._errors import RequestError

MIB = 1024 * 1024
# ServingLimits field -> its bound in schemas/limits.json (body_bytes is kept in MiB there)
LIMIT_NAMES = {
    "body_bytes": "request_body_mb",
    "inflight_body_bytes": "inflight_body_mb",
    "items": "request_items",
    "image_pixels": "image_pixels",
    "request_pixels": "request_pixels",
    "inflight_pixels": "inflight_pixels",
    "request_seconds": "request_seconds",
    "concurrent_requests": "concurrent_requests",
    "xai_steps": "xai_steps",
    "xai_items": "xai_items",
}


@dataclass(frozen=True)
class ServingLimits:
    """What one request, and the endpoint as a whole, may ask for."""

    body_bytes: int
    inflight_body_bytes: int
    items: int
    image_pixels: int
    request_pixels: int
    inflight_pixels: int
    request_seconds: float
    concurrent_requests: int
    xai_steps: int
    xai_items: int

    @classmethod
    def resolve(cls, **overrides: float | None) -> ServingLimits:
        """Each bound from `overrides` (a flag's value; None: not given), else from its
        environment variable, else its default in schemas/limits.json."""
        from automl.schemas import limit

        unknown = set(overrides) - set(LIMIT_NAMES)
        if unknown:
            raise TypeError(f"unknown serving limits: {', '.join(sorted(unknown))}")
        values = {}
        for spec in fields(cls):
            given = overrides.get(spec.name)
            value = given if given is not None else limit(LIMIT_NAMES[spec.name])
            if LIMIT_NAMES[spec.name].endswith("_mb") and given is None:
                value *= MIB
            values[spec.name] = value
        return cls(**values)

    @classmethod
    def from_flags(cls, **values: float | None) -> ServingLimits:
        """`resolve` from `model serve` flags: keyed by their bound's name in limits.json,
        in its unit (MiB for the `_mb` ones); None: not given."""
        fields_of = {name: field for field, name in LIMIT_NAMES.items()}
        overrides = {}
        for name, value in values.items():
            in_mib = name.endswith("_mb") and value is not None
            overrides[fields_of[name]] = int(value * MIB) if in_mib else value
        return cls.resolve(**overrides)

    @staticmethod
    def hint(field: str) -> str:
        """How to raise the bound behind `field` (its variable and `model serve` flag)."""
        from automl.schemas import limit_hint

        return limit_hint(LIMIT_NAMES[field])

    def refuse(self, field: str, message: str, status: int = 413) -> RequestError:
        """The error of a request over the bound `field`: says the limit and how to raise it."""
        return RequestError(message, status, hint=self.hint(field), limit=self.shown(field))

    def shown(self, field: str) -> int | float:
        """The bound in the unit of its variable and flag (MiB for the `_mb` ones)."""
        value = getattr(self, field)
        if not LIMIT_NAMES[field].endswith("_mb"):
            return value
        mib = value / MIB
        return int(mib) if mib.is_integer() else round(mib, 3)


class ConcurrencyGate:
    """At most `capacity` requests at once; `enter()` is False past it (answer 429)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0

    def enter(self) -> bool:
        if self.active >= self.capacity:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1


class Budget:
    """Units (decoded pixels, body bytes) held by all requests at once. A request waits for
    room; `acquire` gives up after `timeout` seconds."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._freed = asyncio.Event()

    def share(self, amount: int) -> int:
        """What a request of `amount` takes: all of the budget at most, so it can run alone."""
        return min(amount, self.capacity)

    async def acquire(self, amount: int, timeout: float) -> None:
        """Take `amount` (see `share`) once it fits; TimeoutError after `timeout` s."""
        async with asyncio.timeout(max(timeout, 0.0)):
            while self.used + amount > self.capacity:
                self._freed.clear()
                await self._freed.wait()
        self.used += amount

    def release(self, amount: int) -> None:
        self.used -= amount
        self._freed.set()  # every waiter checks again
