"""The calibrations `automl job plan` measured on this machine, kept in
`$AUTOML_HOME/plan/calibrations.json`, so that `job create` writes a run's plan.json from
them at no cost (no batch is run again, torch is not imported for it).

A calibration is reused only for the same host, device (CPU threads or GPU model), task,
configuration (trials.cost_key) and data size; the newest `MAX_ENTRIES` are kept.
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import asdict
from pathlib import Path

from automl.engine.plan.calibrate import EpochCost
from automl.engine.utils.files import write_json_atomic

logger = logging.getLogger("automl.plan")

CACHE_FILE = "plan/calibrations.json"
MAX_ENTRIES = 200
MAX_BYTES = 1 << 20  # a larger file is not ours: it is ignored


def cache_path() -> Path:
    from automl.engine.registry import automl_home

    return automl_home() / CACHE_FILE


def entry_key(device: str, task: str, config_key: str, n_train: int, n_valid: int) -> str:
    return json.dumps([socket.gethostname(), device, task, config_key, n_train, n_valid])


def load_cache() -> dict[str, EpochCost]:
    """The stored calibrations by entry_key ({} when there are none or the file is bad)."""
    path = cache_path()
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {key: EpochCost(**value) for key, value in raw.items()}
    except (OSError, ValueError, TypeError) as error:
        logger.debug("calibration cache %s ignored: %s", path, error)
        return {}


def save_cache(new: dict[str, EpochCost]) -> None:
    """Add `new` to the stored calibrations (the oldest beyond MAX_ENTRIES dropped)."""
    merged = {key: value for key, value in load_cache().items() if key not in new}
    merged.update(new)
    kept = dict(list(merged.items())[-MAX_ENTRIES:])
    try:
        write_json_atomic(cache_path(), {key: asdict(value) for key, value in kept.items()})
    except OSError as error:  # a plan is still printed without its cache
        logger.warning("could not keep the calibration in %s: %s", cache_path(), error)
