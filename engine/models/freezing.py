"""`layers_to_freeze`: freeze the first N layer groups of a model (docs/azure-compatibility.md
§3.10)."""

from __future__ import annotations

from torch import nn

from automl.engine.errors import TrialError
from automl.engine.models._base import ModelSpec


def frozen_prefixes(spec: ModelSpec, n_groups: int) -> tuple[str, ...]:
    """The parameter-name prefixes frozen by `layers_to_freeze: n_groups`."""
    n_available = len(spec.layer_groups)
    if not 1 <= n_groups <= n_available:
        raise TrialError(
            f"training_parameters.layers_to_freeze={n_groups} is out of range for model "
            f"{spec.name!r}: it has {n_available} layer groups "
            f"({', '.join('/'.join(g) for g in spec.layer_groups)})",
            hint=f"use a value from 1 to {n_available}, or leave layers_to_freeze unset",
        )
    return tuple(prefix for group in spec.layer_groups[:n_groups] for prefix in group)


def freeze_layer_groups(model: nn.Module, spec: ModelSpec, n_groups: int) -> list[str]:
    """Set requires_grad=False on the first `n_groups` groups; return the frozen names."""
    prefixes = frozen_prefixes(spec, n_groups)
    frozen = []
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)
            frozen.append(name)
    if not frozen:  # a spec that does not match its module is a bug, not a user error
        raise RuntimeError(f"layer groups of {spec.name} match no parameter: {prefixes}")
    return frozen
