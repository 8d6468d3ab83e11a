"""Best-epoch tracking and early stopping with Azure's semantics (docs/azure-compatibility.md
§3.13)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

PROGRESS_KEYS = ("best_score", "best_epoch", "no_progress")


@dataclass
class EarlyStopper:
    """Called once per evaluation with the primary score (higher is better).

    - the best model moves on `score >= best_score` (a tie moves it to the later epoch);
    - `no_progress` counts evaluations without a strict improvement, from the first epoch
      after `delay` (epochs are 1-based: with delay 5 counting starts at epoch 6), and
      resets to 0 on a strict improvement;
    - training stops when `enabled` and `no_progress >= patience`.
    """

    enabled: bool
    patience: int
    delay: int
    best_score: float | None = None
    best_epoch: int | None = None
    no_progress: int = 0

    def update(self, epoch: int, score: float) -> bool:
        """Record an evaluation; return True when it is the new best model."""
        improved = self.best_score is None or score > self.best_score
        is_best = self.best_score is None or score >= self.best_score
        if improved:
            self.no_progress = 0
        elif epoch > self.delay:
            self.no_progress += 1
        if is_best:
            self.best_score, self.best_epoch = score, epoch
        return is_best

    @property
    def should_stop(self) -> bool:
        return self.enabled and self.no_progress >= self.patience

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint's progress (best score and epoch, evaluations without progress);
        whether and when to stop stay this run's settings: a run that continues another
        (AutoMode's final run) may have turned early stopping off."""
        for key in PROGRESS_KEYS:
            if key in state:
                setattr(self, key, state[key])
