"""TensorBoard event files of a trial (trial_dir/tensorboard/), when tensorboard is
installed; nothing at all otherwise (the user did not ask for them)."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger("automl.tracking")

TENSORBOARD_DIR = "tensorboard"


class EventWriter:
    """One trial's scalars per epoch; every failure is logged at debug level and ignored."""

    def __init__(self, writer) -> None:
        self.writer = writer

    @classmethod
    def open(cls, trial_dir: Path) -> EventWriter | None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is not installed: no event files
            return None
        try:
            return cls(SummaryWriter(log_dir=str(Path(trial_dir) / TENSORBOARD_DIR)))
        except Exception as error:
            logger.warning("TensorBoard event files are off for this trial: %s", error)
            return None

    def log(self, metrics: dict[str, float], step: int) -> None:
        try:
            for name, value in metrics.items():
                self.writer.add_scalar(name, value, step)
            self.writer.flush()
        except Exception as error:
            logger.debug("TensorBoard scalars skipped: %s", error)

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception as error:
            logger.debug("TensorBoard writer close failed: %s", error)
