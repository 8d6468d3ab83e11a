"""checkpoints/last.pt (resumable) and checkpoints/<epoch>_model.pt."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from automl.engine.models.package import save_torch_atomic

LAST_CHECKPOINT = "last.pt"


def rng_state() -> dict:
    """RNG states as plain types and tensors, so last.pt loads with weights_only=True."""
    state = {"torch": torch.get_rng_state(), "python": list_state(random.getstate())}
    state["numpy"] = list_state(np.random.get_state())
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def list_state(value):
    if isinstance(value, tuple | list):
        return [list_state(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_last(
    checkpoint_dir: Path,
    *,
    state,
    epoch: int,
    stopper,
    elapsed_s: float,
    training_parameters: dict,
    interrupted: bool = False,
) -> Path:
    """Everything needed to continue after `epoch` (number of completed epochs).

    `interrupted` marks a save at cancel time, in the middle of epoch `epoch + 1`: resuming
    re-runs that epoch from the weights of the moment of the cancel.
    """
    path = checkpoint_dir / LAST_CHECKPOINT
    save_torch_atomic(
        {
            "epoch": epoch,
            "interrupted": interrupted,
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "scaler": state.scaler.state_dict(),
            "early_stopping": stopper.state_dict(),
            "elapsed_s": elapsed_s,
            "rng": rng_state(),
            "training_parameters": training_parameters,
        },
        path,
    )
    return path


def load_last(checkpoint_dir: Path, *, state, stopper) -> dict | None:
    """Restore model, optimizer, scheduler, early stopping, RNG from last.pt; return the
    checkpoint (its `epoch` and `elapsed_s`), or None when there is none."""
    path = checkpoint_dir / LAST_CHECKPOINT
    if not path.is_file():
        return None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state.model.load_state_dict(checkpoint["model"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    state.scheduler.load_state_dict(checkpoint["scheduler"])
    state.scaler.load_state_dict(checkpoint["scaler"])
    stopper.load_state_dict(checkpoint["early_stopping"])
    restore_rng_state(checkpoint["rng"])
    return checkpoint
