"""Transformers models by hub id (`org/name`): the `transformers` family of every task kind.

A hub id names an architecture and its weights, not a task, so one family serves every
kind: its builders dispatch to the `HubAdapter` registered for the task's kind
(`register_hub_adapter`; classification in _hf_classification.py). A hub id's `ModelSpec`
is made on each lookup by the model registry's resolver (`resolve_hub_model`) and never
listed; the curated ids of schemas/models.json and the tiny test models are registered.

Weights come through the Hugging Face cache only (engine/utils/hf_hub.py: config,
preprocessor config, safetensors; never the repository's code, never `trust_remote_code`).
A package records the model's config (`hf_config` in model.pt, the content of its
config.json) and is rebuilt with `from_config` plus its state dict: no hub access.
`transformers` is imported inside functions only (the `transformers` extra).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from automl import schemas
from automl.engine.errors import AutomlError
from automl.engine.models._base import ModelSpec, register_model_resolver
from automl.engine.models._checks import package_error
from automl.engine.models._family import ModelBuilder, ModelFamily, SettingsWriter, register_family
from automl.engine.tasks import TASKS, get_task
from automl.engine.utils import hf_hub
from automl.engine.utils.registry import Registry

HUB_FAMILY = "transformers"  # schemas/models.json's family that takes hub ids
HUB_RUNTIME = "transformers"  # trainers and predictors: (task kind, "transformers")
MAX_CONFIG_CHARS = 1 << 20  # a recorded config.json (a few kB for the curated models)


@dataclass(frozen=True)
class HubAdapter:
    """How the Transformers models of one task kind are built and packaged.

    - `build(spec, n_labels, pretrained, settings)`: a fresh module (our output format).
    - `package_settings(task, model_name, labels, params)`: settings.json of the package.
    - `build_from_config(config, task)`: the untrained module of a package's recorded
      `PretrainedConfig` (its labels are in the config).
    """

    kind: str
    build: ModelBuilder
    package_settings: SettingsWriter
    build_from_config: Callable[[Any, str], nn.Module]


HUB_ADAPTERS: Registry[HubAdapter] = Registry("Transformers task kind")


def register_hub_adapter(adapter: HubAdapter) -> HubAdapter:
    """Add the adapter of one task kind (a duplicate kind raises at import time)."""
    HUB_ADAPTERS.add(adapter.kind, adapter)
    return adapter


def adapter_of(task: str) -> HubAdapter:
    """The adapter of `task`'s kind; a kind without one is a user error naming the kinds."""
    kind = get_task(task).kind
    if kind not in HUB_ADAPTERS:
        raise AutomlError(
            f"task {task!r}: Transformers hub ids are not supported for {kind} tasks",
            hint=f"hub ids serve {', '.join(hub_tasks())}; pick a model of the task's list",
        )
    return HUB_ADAPTERS.get(kind)


def hub_tasks() -> tuple[str, ...]:
    """Tasks whose kind has an adapter: the tasks a hub id may be used for."""
    return tuple(t for t in TASKS if get_task(t).kind in HUB_ADAPTERS)


# ---- the family ----------------------------------------------------------------------


def build_hub_model(spec: ModelSpec, n_labels: int, pretrained: bool, settings: dict) -> nn.Module:
    return adapter_of(settings["task"]).build(spec, n_labels, pretrained, settings)


def hub_package_settings(task: str, model_name: str, labels: list[str], params: dict) -> dict:
    return adapter_of(task).package_settings(task, model_name, labels, params)


def read_package_config(record: dict, path: Path) -> dict:
    """model.pt's `hf_config`, checked (a mapping of bounded size with a known model_type)."""
    config = record.get("hf_config")
    if not isinstance(config, dict):
        raise package_error(path, "hf_config (the Transformers config.json) is missing")
    if len(json.dumps(config, default=str)) > MAX_CONFIG_CHARS:
        raise package_error(path, f"hf_config is over {MAX_CONFIG_CHARS:,} characters")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in known_model_types():
        raise package_error(
            path, f"hf_config model_type {str(model_type)[:80]!r} is not a Transformers model"
        )
    return config


def build_hub_from_config(config: dict, task: str) -> nn.Module:
    return adapter_of(task).build_from_config(config_from_dict(config), task)


def register_hub_family() -> None:
    register_family(
        ModelFamily(
            HUB_FAMILY,
            HUB_RUNTIME,
            build=build_hub_model,
            package_settings=hub_package_settings,
            package_config=read_package_config,
            build_from_config=build_hub_from_config,
        )
    )


# ---- specs of hub ids ----------------------------------------------------------------


def hub_spec(hub_id: str, stats: dict | None = None) -> ModelSpec:
    """The spec of `hub_id`: mean/std/size from `stats`, else from its cached image
    processor (ImageNet's when not cached)."""
    if stats is None:
        stats = hf_hub.processor_stats(hub_id) if hf_hub.transformers_installed() else {}
    values: dict = {
        "name": hub_id,
        "tasks": hub_tasks(),
        "family": HUB_FAMILY,
        "runtime": HUB_RUNTIME,
        "source": "huggingface",
        "builder": build_classifier_of_spec,
        "layer_groups": (),
        "weights_id": hub_id,
        "grad_clip": ("norm", 1.0),  # transformers' Trainer default (max_grad_norm 1.0)
        "extra": {"hub_id": hub_id},
    }
    values.update({k: stats[k] for k in ("mean", "std") if k in stats})
    if "size" in stats:
        values["input_size"] = stats["size"]
    return ModelSpec(**values)


def build_classifier_of_spec(
    spec: ModelSpec, n_classes: int, pretrained: bool, crop_size: int | None
) -> nn.Module:
    """`build_model`'s entry (a classifier with a new head): the classification adapter."""
    settings = {"task": "image_classification", "valid_crop_size": crop_size}
    return HUB_ADAPTERS.get("classification").build(spec, n_classes, pretrained, settings)


def resolve_hub_model(name: str) -> ModelSpec | None:
    """The model registry's resolver: any `org/name` id is a Transformers model."""
    return hub_spec(name) if schemas.is_hub_id(name) else None


# ---- configs and weights -------------------------------------------------------------


def transformers_module(model_name: str):
    """`import transformers`, or one line naming the extra to install."""
    hf_hub.require_transformers(model_name)
    import transformers

    return transformers


def known_model_types() -> frozenset[str]:
    transformers = transformers_module("(package)")
    return frozenset(transformers.CONFIG_MAPPING.keys())


def hub_snapshot(hub_id: str, pretrained: bool) -> Path:
    """The cached snapshot folder of `hub_id` (downloaded when online and not cached)."""
    from automl.engine.models._weights import WeightsUnavailableError

    problem = hf_hub.offline_problem(hub_id, pretrained)
    if problem is None:
        try:
            return hf_hub.fetch_hub_model(hub_id)
        except (OSError, ValueError, RuntimeError) as exc:  # hub errors derive from these
            problem = f"download failed ({' '.join(str(exc).split())[:300]})"
    raise WeightsUnavailableError(
        f"model {hub_id!r}: {problem}",
        hint=f"run `automl weights fetch {hub_id}` on a machine with network access and copy "
        "the Hugging Face cache (HF_HOME) here",
    )


def load_hub_config(hub_id: str, pretrained: bool, **overrides: Any):
    """`AutoConfig` of `hub_id` from its cached config.json (never remote code)."""
    transformers = transformers_module(hub_id)
    folder = hub_snapshot(hub_id, pretrained)
    try:
        return transformers.AutoConfig.from_pretrained(str(folder), **overrides)
    except (ValueError, KeyError, OSError) as exc:
        raise AutomlError(
            f"model {hub_id!r}: its config.json is not a Transformers model this installation "
            f"builds ({' '.join(str(exc).split())[:200]})",
            hint="models that need their repository's own code (trust_remote_code) are "
            "refused; pick a model whose architecture is part of transformers",
        ) from None


def load_hub_weights(auto_class, hub_id: str, config) -> nn.Module:
    """`auto_class.from_pretrained` of the cached snapshot with `config` (a new head: sizes
    that differ from the checkpoint's are initialised, not loaded); safetensors only."""
    folder = hub_snapshot(hub_id, pretrained=True)
    return auto_class.from_pretrained(
        str(folder), config=config, ignore_mismatched_sizes=True, use_safetensors=True
    )


def config_from_dict(data: dict):
    """The `PretrainedConfig` of a recorded config.json content (its model_type's class)."""
    transformers = transformers_module(str(data.get("_name_or_path") or "package"))
    return transformers.CONFIG_MAPPING[data["model_type"]].from_dict(dict(data))


def config_record(model: nn.Module) -> dict:
    """A Transformers model's config as plain JSON data (what model.pt records)."""
    return json.loads(model.config.to_json_string(use_diff=False))


register_hub_family()
register_model_resolver(resolve_hub_model)
