"""Transformers hub ids (`org/name`): the Hugging Face cache, offline mode, the extra.

Torch-free (`automl job validate` uses it). A hub model is three files in the hub cache:
`config.json` (the architecture), `preprocessor_config.json` (mean, std, size) and
`model.safetensors` (the weights; pickled `.bin` files and the repository's Python code are
never fetched, and nothing is loaded with `trust_remote_code`). The id rule is
`$defs/hub_model_id` of schemas/job.schema.json (`automl.schemas.is_hub_id`).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from automl import schemas
from automl.engine.utils.extras import MissingExtraError, install_command

CONFIG_FILE = "config.json"
PROCESSOR_FILE = "preprocessor_config.json"
HUB_FILES = (CONFIG_FILE, PROCESSOR_FILE, schemas.HUB_WEIGHTS)
INSTALL_HINT = install_command("transformers")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
MAX_PROCESSOR_BYTES = 1 << 20  # a preprocessor_config.json is a few hundred bytes


def transformers_installed() -> bool:
    return importlib.util.find_spec("transformers") is not None


def require_transformers(model_name: str | None) -> None:
    """The one line of a missing extra (engine/utils/extras.py) when `transformers` is not
    installed; checked without importing it."""
    if not transformers_installed():
        what = f"model {model_name!r}" if model_name else "a Transformers model"
        raise MissingExtraError(what, "transformers")


def hub_offline() -> bool:
    """HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set: nothing may be downloaded."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in OFFLINE_VARIABLES)


def cached_hub_file(hub_id: str, filename: str) -> Path | None:
    """The cached copy of one file of hub repository `hub_id`, or None."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hub_id, filename)
    return Path(found) if isinstance(found, str) else None


def missing_hub_files(hub_id: str, pretrained: bool) -> list[str]:
    """The files `hub_id` needs (its config; with `pretrained` its weights) not cached here."""
    needed = [CONFIG_FILE, schemas.HUB_WEIGHTS] if pretrained else [CONFIG_FILE]
    return [name for name in needed if cached_hub_file(hub_id, name) is None]


def offline_problem(hub_id: str, pretrained: bool) -> str | None:
    """Why `hub_id` cannot be built here (offline and not cached), or None."""
    if not hub_offline():
        return None
    missing = missing_hub_files(hub_id, pretrained)
    if not missing:
        return None
    return (
        f"{', '.join(missing)} of {hub_id} not in the Hugging Face cache and downloads are "
        "off (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set)"
    )


def fetch_hub_model(hub_id: str) -> Path:
    """Download `hub_id`'s config, preprocessor config and safetensors weights into the hub
    cache (a cached copy is reused; offline, the cached snapshot); return the snapshot."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(hub_id, allow_patterns=list(HUB_FILES)))


def processor_stats(hub_id: str) -> dict:
    """mean, std and size of `hub_id`'s cached preprocessor_config.json; {} when absent
    or unreadable (the model then takes ImageNet's statistics)."""
    path = cached_hub_file(hub_id, PROCESSOR_FILE)
    if path is None or path.stat().st_size > MAX_PROCESSOR_BYTES:
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stats_of_processor(config) if isinstance(config, dict) else {}


def stats_of_processor(config: dict) -> dict:
    """{"mean", "std", "size"} of an image processor config, each only when well formed."""
    stats: dict = {}
    for key, ours in (("image_mean", "mean"), ("image_std", "std")):
        value = config.get(key)
        if isinstance(value, list) and len(value) == 3 and all(_number(v) for v in value):
            stats[ours] = tuple(float(v) for v in value)
    size = config.get("crop_size") if config.get("do_center_crop") else config.get("size")
    if isinstance(size, dict):
        size = size.get("height", size.get("shortest_edge"))
    if isinstance(size, int) and 8 <= size <= 4096:
        stats["size"] = size
    return stats


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# AutoMode's rows for the curated hub ids: Azure's examples sweep these models at 1e-5 to
# 1e-4 (docs/azure-compatibility.md §15.3); batch sizes fit a ViT-B at 224 px
AUTOMODE_LEARNING_RATE = 5e-5
AUTOMODE_BATCH = {True: 16, False: 8}  # on a GPU, on CPUs


def automode_may_use(model_name: str, cuda: bool) -> bool:
    """AutoMode's rule: a Transformers model joins the portfolio when the transformers
    extra is installed and its weights are in the Hugging Face cache or a GPU is present
    (fine-tuning a ViT-B on CPUs without cached weights is hours of download and training;
    on a GPU it is minutes)."""
    if not schemas.is_hub_id(model_name) or not transformers_installed():
        return False
    return cuda or not missing_hub_files(model_name, pretrained=True)


def automode_hub_candidates(task: str, on_gpu: bool) -> list[tuple]:
    """Portfolio rows `(model, learning rate, batch, extra)` of `task`'s curated hub ids
    that `automode_may_use` allows, tried after AutoMode's own rows."""
    return [
        _automode_row(task, model, on_gpu)
        for model in schemas.curated_hub_ids(task)
        if automode_may_use(model, on_gpu)
    ]


def _automode_row(task: str, model: str, on_gpu: bool) -> tuple:
    """The model's own defaults of models.json (a DETR: batch 4, 1e-4) before AutoMode's
    classifier figures."""
    defaults = schemas.model_defaults(task, model)
    batch = defaults.get("training_batch_size", AUTOMODE_BATCH[bool(on_gpu)])
    if not on_gpu:
        batch = min(batch, AUTOMODE_BATCH[False])
    return (model, defaults.get("learning_rate", AUTOMODE_LEARNING_RATE), batch, {})
