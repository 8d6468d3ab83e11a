"""One registry per kind (models, samplers, pruners, converters).

Builders register with a decorator keyed by name; a duplicate name raises at import time,
and an unknown name raises a `RegistryError` that lists the closest matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from automl.engine.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object map for one kind of thing, e.g. `Registry("model")`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register the decorated object under `name` (default: its __name__)."""

        def decorator(obj: T) -> T:
            key = name or getattr(obj, "__name__", None)
            if not key:
                raise ValueError(f"cannot infer a {self.kind} name for {obj!r}; pass name=")
            self.add(key, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._entries:
            raise ValueError(f"duplicate {self.kind} name {name!r}: already registered")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        message = f"unknown {self.kind} {name!r}"
        if close:
            return message + "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        return message + "; known: " + ", ".join(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
