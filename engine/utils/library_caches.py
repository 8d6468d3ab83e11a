"""Where torch hub, the Hugging Face hub and Ultralytics keep downloaded weights, found
without importing torch or Ultralytics (`automl job validate` must stay light).

The file names come from schemas/weights.json (`automl.schemas.pretrained_weights`); the
folders follow each library's own rules, and when the library is already imported its own
answer is used (a `torch.hub.set_dir` call, Ultralytics' loaded settings).
tests/models/test_weights_facts.py checks both against the libraries.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

MAX_SETTINGS_BYTES = 1 << 20  # Ultralytics' settings.json is a few hundred bytes


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() (its own answer once torch is loaded, else the same rule)."""
    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir())
    return torch_hub_dir_from_environment()


def torch_hub_dir_from_environment() -> Path:
    """torch's rule: $TORCH_HOME/hub, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch."""
    cache_home = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache_home, "torch")))
    return Path(torch_home) / "hub"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache (HF_HUB_CACHE, HF_HOME/hub, ...), as huggingface_hub says."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def ultralytics_weights_dir() -> Path:
    """Ultralytics' `weights_dir`: its settings file's value, else its default (the git
    checkout Ultralytics is installed from, or the working directory, + weights/)."""
    utils = sys.modules.get("ultralytics.utils")
    if utils is not None:
        return Path(utils.WEIGHTS_DIR)
    return ultralytics_weights_dir_from_settings()


def ultralytics_weights_dir_from_settings() -> Path:
    """Ultralytics' rule, without importing it: the settings file's `weights_dir`, else
    its default."""
    value = _ultralytics_settings().get("weights_dir")
    return Path(value) if isinstance(value, str) else _ultralytics_root() / "weights"


def _ultralytics_config_dir() -> Path:
    """Ultralytics' user config folder (YOLO_CONFIG_DIR, else the platform's)."""
    if env_dir := os.getenv("YOLO_CONFIG_DIR"):
        return Path(env_dir).expanduser() / "Ultralytics"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Ultralytics"
    if sys.platform == "win32":
        return Path.home() / "AppData" / "Roaming" / "Ultralytics"
    return Path(os.getenv("XDG_CONFIG_HOME", Path.home() / ".config")) / "Ultralytics"


def _ultralytics_settings() -> dict:
    path = _ultralytics_config_dir() / "settings.json"
    try:
        if path.stat().st_size > MAX_SETTINGS_BYTES:
            return {}
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def _ultralytics_root() -> Path:
    spec = importlib.util.find_spec("ultralytics")
    start = Path(spec.origin).resolve().parent if spec and spec.origin else None
    for folder in [start, *start.parents] if start else []:
        if (folder / ".git").exists():
            return folder
    return Path()


# looked up by name at call time, so tests can point a source at a folder of their own
CACHE_DIRS = {
    "torchvision": lambda: torch_hub_dir() / "checkpoints",
    "timm": lambda: hf_hub_cache(),
    "huggingface": lambda: hf_hub_cache(),  # Transformers hub ids
    "ultralytics": lambda: ultralytics_weights_dir(),
}


def cache_dir(source: str) -> Path:
    """The folder a weights source ("torchvision", "timm", "huggingface", "ultralytics")
    caches into."""
    return CACHE_DIRS[source]()


def file_name(facts: dict, model_size: str | None = None) -> str:
    """The weights file of a weights.json entry; Ultralytics' depends on `model_size`."""
    if "files" not in facts:
        return facts["file"]
    if model_size not in facts["files"]:
        raise ValueError(f"model_size {model_size!r}: one of {', '.join(facts['files'])}")
    return facts["files"][model_size]


def cached_file(facts: dict, model_size: str | None = None) -> Path | None:
    """The cached weights file of a weights.json entry, or None when not downloaded."""
    if facts["source"] in ("timm", "huggingface"):  # the hub cache keeps snapshots per revision
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(facts["repo"], facts["file"])
        return Path(found) if isinstance(found, str) else None
    path = cache_dir(facts["source"]) / file_name(facts, model_size)
    return path if path.is_file() else None
