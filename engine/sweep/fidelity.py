"""Multi-fidelity AutoMode: filling a time budget with many short trials, the promising
ones promoted, and the best configuration trained to completion at the end.

When AutoMode runs with a `limits.timeout_minutes` the user set (the schema's 7-day default
is no budget to plan for) and its trials train at least MIN_EPOCHS_TO_HALVE epochs:

1. **Hyperband on epochs.** The resource is the epoch: Optuna's `HyperbandPruner`
   (successive halving in several brackets) with reduction factor 3, from 1 epoch to the
   trials' `number_of_epochs`: at each rung (1, 3, 9 ... epochs) a trial goes on only if it
   is in the top third of its bracket's trials there, so most configurations cost an epoch
   or three and the budget holds many more of them (`pruners/_hyperband.py`).
2. **The best, to completion.** Once the best configuration so far was cut short (pruned, or
   stopped by the budget) and the time left holds one full-length trial (the epoch time
   measured so far, with FINAL_MARGIN) but no longer also one more short one, or one trial
   of `max_trials` is left, that configuration runs again from the start with pruning off
   (`final_run_due`). Its trial carries attrs.FINAL_ATTR.

Everything here is pure planning; the plan's lines (`FidelityPlan.why`) are written to
automode_plan.json and the log, so a user can read why and copy the settings.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from automl.engine.sweep.summary import best_row
from automl.engine.trials import PRUNED, STOPPED_BY_BUDGET

REDUCTION_FACTOR = 3
MIN_EPOCHS = 1  # the first rung: one evaluated epoch
MIN_EPOCHS_TO_HALVE = 3  # fewer epochs leave no rung to stop at
FINAL_MARGIN = 1.25  # a full-length trial is planned to take 25 % longer than measured
SCHEMA_DEFAULT_NOTE = "the schema's default timeout (7 days) is no budget to plan for"


@dataclass(frozen=True)
class FidelityPlan:
    """How AutoMode spends a time budget (see the module docstring)."""

    timeout_minutes: float
    min_epochs: int
    max_epochs: int
    reduction_factor: int
    n_brackets: int
    final_run: bool
    why: tuple[str, ...]

    def early_termination(self) -> dict:
        """The plan's pruner, as a `sweep.early_termination` entry (pruners/_hyperband.py)."""
        return {
            "type": "hyperband",
            "min_resource": self.min_epochs,
            "max_resource": self.max_epochs,
            "reduction_factor": self.reduction_factor,
        }

    def to_json(self) -> dict:
        """automode_plan.json's `fidelity` entry."""
        return {
            "policy": "hyperband on epochs, then the best configuration to completion",
            "early_termination": self.early_termination(),
            "rungs_epochs": rungs(self.min_epochs, self.max_epochs, self.reduction_factor),
            "n_brackets": self.n_brackets,
            "final_run": self.final_run,
            "why": list(self.why),
        }


def user_timeout(job) -> float | None:
    """`limits.timeout_minutes` as the job file gives it (None: not given)."""
    raw = getattr(job, "raw", None)
    limits = (raw if isinstance(raw, dict) else job.resolved).get("limits") or {}
    value = limits.get("timeout_minutes")
    return None if value is None else float(value)


def trial_epochs(portfolio: list[dict], fixed: dict) -> int | None:
    """The longest `number_of_epochs` of AutoMode's trials (a fixed value wins)."""
    if fixed.get("number_of_epochs") is not None:
        return int(fixed["number_of_epochs"])
    epochs = [int(c["number_of_epochs"]) for c in portfolio if c.get("number_of_epochs")]
    return max(epochs) if epochs else None


def plan_fidelity(
    timeout_minutes: float | None, max_trials: int, max_epochs: int | None
) -> FidelityPlan | None:
    """The multi-fidelity plan for an AutoMode job, or None when it does not apply."""
    if timeout_minutes is None or max_epochs is None or max_epochs < MIN_EPOCHS_TO_HALVE:
        return None
    if max_trials < 2:
        return None
    eta = REDUCTION_FACTOR
    brackets = n_brackets(MIN_EPOCHS, max_epochs, eta)
    steps = rungs(MIN_EPOCHS, max_epochs, eta)
    why = (
        f"limits.timeout_minutes {timeout_minutes:g} set: trials are planned to fill it "
        "(multi-fidelity) instead of running each to its last epoch",
        f"hyperband on epochs from {MIN_EPOCHS} to {max_epochs} (the trials' "
        f"number_of_epochs), reduction factor {eta}: a trial goes on at epochs "
        f"{', '.join(map(str, steps))} only in the top 1/{eta} of its bracket",
        f"{brackets} bracket(s): from aggressive (first stop at epoch {MIN_EPOCHS}) to "
        "cautious, since how early a score tells is not known before the trials",
        "the best configuration is trained again to completion, pruning off, when it was "
        "cut short and the time left holds one full-length trial",
    )
    return FidelityPlan(timeout_minutes, MIN_EPOCHS, max_epochs, eta, brackets, True, why)


def n_brackets(min_epochs: int, max_epochs: int, eta: int) -> int:
    """Hyperband's bracket count, as Optuna computes it: floor(log_eta(max/min)) + 1."""
    return math.floor(math.log(max_epochs / min_epochs, eta)) + 1


def rungs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    """The epochs where the first bracket may stop a trial: min * eta**k below max."""
    steps, epoch = [], min_epochs
    while epoch < max_epochs:
        steps.append(epoch)
        epoch *= eta
    return steps


def epoch_minutes(rows: list[dict]) -> float | None:
    """The median wall time of one epoch (start-up included) over finished trials."""
    per_epoch = [
        r["duration_s"] / r["epochs_completed"] / 60.0
        for r in rows
        if r["state"] != "running" and r.get("duration_s") and r.get("epochs_completed")
    ]
    return statistics.median(per_epoch) if per_epoch else None


def cut_short(row: dict | None, max_epochs: int) -> bool:
    """A best trial that did not train its configuration to the end."""
    if row is None or row["epochs_completed"] >= max_epochs:
        return False
    return row["state"] == PRUNED or row.get("stopped_by") == STOPPED_BY_BUDGET


def final_run_due(
    rows: list[dict], plan: FidelityPlan, minutes_left: float | None, trials_left: int
) -> bool:
    """Whether to run the best configuration again, to completion, now."""
    if not plan.final_run or trials_left < 1 or not cut_short(best_row(rows), plan.max_epochs):
        return False
    per_epoch = epoch_minutes(rows)
    if per_epoch is None:
        return False
    full = per_epoch * plan.max_epochs * FINAL_MARGIN
    if minutes_left is None:
        return trials_left == 1
    if minutes_left < full:
        return False  # it would not finish: the trials so far are the result
    short = per_epoch * plan.min_epochs * FINAL_MARGIN
    return trials_left == 1 or minutes_left < full + short
