"""`LazyRef("package.module:name")`: an object named now, imported on first use.

Registries of tasks, trainers and predictors name their adapters this way, so looking a
name up (job validation, `--help`) never imports torch, torchvision or Ultralytics; only
calling the adapter does.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LazyRef:
    """A `module:attribute` path, resolved (and cached by the import system) on `load()`."""

    path: str

    def __post_init__(self) -> None:
        module, _, name = self.path.partition(":")
        if not module or not name:
            raise ValueError(f"LazyRef needs 'package.module:name', got {self.path!r}")

    def load(self) -> Any:
        """The named object (its module imported now, once)."""
        module, _, name = self.path.partition(":")
        target: Any = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)


def resolve(value: Any) -> Any:
    """`value.load()` for a LazyRef, else `value` itself (registries accept both)."""
    return value.load() if isinstance(value, LazyRef) else value
