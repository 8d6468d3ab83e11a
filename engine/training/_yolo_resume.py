"""Resuming a YOLO trial: Ultralytics' checkpoints/ultralytics/weights/last.pt plus our
checkpoints/yolo_progress.json of the same epoch (early stopping, elapsed time)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from automl.engine.models._yolo import import_ultralytics
from automl.engine.training.checkpoints import drop_metrics_after, restore_best_metrics
from automl.engine.utils.files import write_json_atomic

logger = logging.getLogger("automl.training")

PROGRESS_FILE = "yolo_progress.json"  # our side of a YOLO trial, next to Ultralytics' last.pt


def ultralytics_last(run) -> Path:
    """Ultralytics' resumable checkpoint of the trial (written after every epoch)."""
    return run.checkpoint_dir / "ultralytics" / "weights" / "last.pt"


def save_progress(run, epoch: int) -> None:
    """Our side of the trial after `epoch` (early stopping, elapsed time): with Ultralytics'
    last.pt of the same epoch it is what a resumed trial continues from."""
    state = {
        "epoch": epoch,
        "elapsed_s": run.elapsed_s,
        "early_stopping": run.stopper.state_dict(),
    }
    write_json_atomic(run.checkpoint_dir / PROGRESS_FILE, state)


def checkpoint_epoch(path: Path) -> int:
    """Epochs done in an Ultralytics checkpoint (it stores the 0-based last epoch)."""
    import_ultralytics()  # its classes unpickle the checkpoint
    # weights_only=False runs pickled code: `path` is only `ultralytics_last(run)`, the
    # last.pt Ultralytics' trainer wrote inside this trial's own checkpoints/ folder, never
    # a file from a model package, a registry or a user (those load with weights_only=True)
    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"]) + 1


def resume_point(run) -> Path | None:
    """With the trial's `resume`: Ultralytics' last.pt to continue from, our early stopping,
    elapsed time and metrics.jsonl restored to its epoch; None: start at epoch 1."""
    if not run.inputs.resume:
        return None
    last, progress_path = ultralytics_last(run), run.checkpoint_dir / PROGRESS_FILE
    done = checkpoint_epoch(last) if last.is_file() and progress_path.is_file() else None
    progress = json.loads(progress_path.read_text(encoding="utf-8")) if done else None
    if progress is None or progress["epoch"] != done:
        # no checkpoint yet, or one whose epoch our records missed (killed in between)
        logger.info("resume: no YOLO checkpoint matching metrics.jsonl, starting at epoch 1")
        drop_metrics_after(run.trial_dir / "metrics.jsonl", 0)
        return None
    run.stopper.load_state_dict(progress["early_stopping"])
    run.elapsed_before = progress["elapsed_s"]
    run.epochs_completed = done
    drop_metrics_after(run.trial_dir / "metrics.jsonl", done)
    restore_best_metrics(run)
    logger.info("resumed from %s: continuing at epoch %d", last.name, done + 1)
    return last
