"""`status.json`: the live state of a running trial (a `TrialStatus`, engine/trials/), for
progress displays and `job show`."""

from __future__ import annotations

import os
import time
from pathlib import Path

from automl.engine.trials import TrialStatus
from automl.engine.utils.files import write_json_atomic

MIN_INTERVAL_S = 0.5


class StatusWriter:
    """Rewrites status.json atomically, at most every 0.5 s unless forced (epoch ends)."""

    def __init__(self, path: Path, n_epochs: int) -> None:
        self.path = path
        self.fields: dict = {
            "state": "running",
            "pid": os.getpid(),
            "epoch": 0,
            "n_epochs": n_epochs,
            "step": 0,
            "n_steps": 0,
            "train_loss": None,
            "last_score": None,
            "evaluated_epoch": None,
            "best_score": None,
            "eta_s": None,
            "updated_at": time.time(),
        }
        self.last_write = 0.0

    def due(self) -> bool:
        return time.monotonic() - self.last_write >= MIN_INTERVAL_S

    def update(self, force: bool = False, **fields) -> None:
        self.fields.update(fields)
        if force or self.due():
            self.fields["updated_at"] = time.time()
            write_json_atomic(self.path, TrialStatus(**self.fields).to_dict())
            self.last_write = time.monotonic()


class EtaEstimator:
    """Seconds left, from the mean time per training step so far (evaluation included)."""

    def __init__(self, n_epochs: int) -> None:
        self.n_epochs = n_epochs
        self.start = time.monotonic()
        self.steps_done = 0

    def restart(self) -> None:
        self.start = time.monotonic()
        self.steps_done = 0

    def estimate(self, epoch: int, step: int, n_steps: int, steps_done: int) -> float | None:
        if steps_done <= 0:
            return None
        per_step = (time.monotonic() - self.start) / steps_done
        remaining = (n_steps - step) + (self.n_epochs - epoch) * n_steps
        return round(per_step * remaining, 1)
