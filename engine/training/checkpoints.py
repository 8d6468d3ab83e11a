"""checkpoints/last.pt (resumable) and checkpoints/<epoch>_model.pt, and continuing a
trial from last.pt (spec `resume`, set by `automl job resume`: engine/sweep/recovery.py)."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from automl.engine.models.package import save_torch_atomic
from automl.engine.training import distributed
from automl.engine.utils.files import read_jsonl, write_text_atomic

if TYPE_CHECKING:
    from automl.engine.training.loop import TrainingState
    from automl.engine.training.trial import TrialRun

logger = logging.getLogger("automl.trial")

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


def resume_if_asked(run: TrialRun, state: TrainingState) -> int:
    """Restore last.pt when spec.resume; return the first epoch to run (1-based)."""
    if not run.spec.resume:
        return 1
    checkpoint = load_last(run.checkpoint_dir, state=state, stopper=run.stopper)
    if checkpoint is None:
        logger.info("resume: no checkpoints/last.pt yet, starting at epoch 1")
        return 1
    done = checkpoint["epoch"]
    run.elapsed_before = checkpoint["elapsed_s"]
    run.epochs_completed = done
    if distributed.is_main():
        drop_metrics_after(run.trial_dir / "metrics.jsonl", done)
    restore_best_metrics(run)
    logger.info("resumed from checkpoints/last.pt: continuing at epoch %d", done + 1)
    return done + 1


def drop_metrics_after(path: Path, epoch: int) -> None:
    """Forget evaluations newer than the checkpoint (they are re-run)."""
    if not path.is_file():
        return
    kept = [record for record in read_jsonl(path) if record["epoch"] <= epoch]
    write_text_atomic(path, "".join(json.dumps(record) + "\n" for record in kept))


def restore_best_metrics(run: TrialRun) -> None:
    path = run.trial_dir / "metrics.jsonl"
    if run.stopper.best_epoch is None or not path.is_file():
        return
    for record in read_jsonl(path):
        if record["epoch"] == run.stopper.best_epoch:
            run.best_metrics = record["valid"]
