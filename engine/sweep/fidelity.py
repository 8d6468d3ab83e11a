"""Multi-fidelity AutoMode: a time budget spent on short trials first, then on the best
configuration trained on for the rest of it.

When AutoMode runs with a `limits.timeout_minutes` the user set (the schema's 7-day default
is no budget to plan for) and `max_trials` > 1:

1. **Explore: a third of the budget** (none when it is too tight: the first configuration
   then gets it all, automode_rules.explore_share). The portfolio's trials are sized to share
   `automode_rules.EXPLORE_SHARE` of the budget (automode_rules.trial_budget_s). When they
   train at least MIN_EPOCHS_TO_HALVE epochs, Optuna's `HyperbandPruner` (reduction factor 3,
   from 1 epoch to the trials' `number_of_epochs`) stops the weak ones at a rung (1, 3, 9 ...
   epochs) unless they are in the top third of their bracket there (`pruners/_hyperband.py`).
2. **Exploit: the rest, on the best.** Once the exploration share is spent (or one trial of
   `max_trials` is left), the best configuration so far runs on (`final_run`): it continues
   from its own checkpoint (its epochs so far are kept, the learning-rate schedule stretched
   to the new length: a warm restart) or, without one, starts again; either way planned for
   the epochs the time left holds by that configuration's own measured seconds per epoch
   (start-up and finish apart: TrialResult.epoch_s), with room to spare, and ending its
   schedule by the budget's end at its own pace (TrialSpec.finish_by); pruning and early
   stopping off. Its
   trial carries attrs.FINAL_ATTR and its changed values attrs.OVERRIDES_ATTR.

Everything here is pure planning; the plan's lines (`FidelityPlan.why`) are written to
automode_plan.json and the log, and each final run's reason to the log, so a user can read
why and copy the settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from automl.engine.sweep.automode_rules import EXPLORE_SHARE, FILL_OVERPLAN, MAX_EPOCH_FACTOR
from automl.engine.sweep.summary import best_row

REDUCTION_FACTOR = 3
MIN_EPOCHS = 1  # the first rung: one evaluated epoch
MIN_EPOCHS_TO_HALVE = 3  # fewer epochs leave no rung to stop at
EPOCH_MARGIN = 1.15  # the final run plans each epoch 15 % longer than measured
PROCESS_START_S = 5.0  # a trial process's start before its own clock (Python, torch)
FINISH_RESERVE_S = 10.0  # kept at the end of the budget for the job's own finish
FINAL_EPOCH_FACTOR = MAX_EPOCH_FACTOR  # a final run trains at most 3x the data-size rule's
SCHEMA_DEFAULT_NOTE = "the schema's default timeout (7 days) is no budget to plan for"


@dataclass(frozen=True)
class FidelityPlan:
    """How AutoMode spends a time budget (see the module docstring). `max_epochs`: the
    exploration trials' longest schedule; Hyperband runs when it is at least
    MIN_EPOCHS_TO_HALVE. `final_max_epochs`: the most a final run trains."""

    timeout_minutes: float
    min_epochs: int
    max_epochs: int
    reduction_factor: int
    n_brackets: int
    final_run: bool
    why: tuple[str, ...]
    explore_share: float = EXPLORE_SHARE
    final_max_epochs: int | None = None

    @property
    def hyperband(self) -> bool:
        return self.n_brackets > 0

    def early_termination(self) -> dict | None:
        """The plan's pruner, as a `sweep.early_termination` entry (pruners/_hyperband.py);
        None when the trials are too short to stop early."""
        if not self.hyperband:
            return None
        return {
            "type": "hyperband",
            "min_resource": self.min_epochs,
            "max_resource": self.max_epochs,
            "reduction_factor": self.reduction_factor,
        }

    def to_json(self) -> dict:
        """automode_plan.json's `fidelity` entry."""
        return {
            "policy": "explore with short trials, then the best configuration for the rest",
            "explore_share": round(self.explore_share, 3),
            "early_termination": self.early_termination(),
            "rungs_epochs": rungs(self.min_epochs, self.max_epochs, self.reduction_factor)
            if self.hyperband
            else [],
            "n_brackets": self.n_brackets,
            "final_run": self.final_run,
            "final_max_epochs": self.final_max_epochs,
            "why": list(self.why),
        }


@dataclass(frozen=True)
class FinalRun:
    """The best configuration's run on: trial `number`'s parameters with `epochs` in all,
    continuing from its checkpoint (`continues`) or from the start."""

    number: int
    epochs: int
    continues: bool
    why: str


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
    timeout_minutes: float | None,
    max_trials: int,
    max_epochs: int | None,
    final_max_epochs: int | None = None,
    fixed: dict | None = None,
    explore_share: float = EXPLORE_SHARE,
) -> FidelityPlan | None:
    """The budget plan of an AutoMode job, or None when it does not apply. A fixed
    `number_of_epochs` is the user's: no final run trains longer."""
    if timeout_minutes is None or max_epochs is None or max_trials < 2:
        return None
    fixed = fixed or {}
    eta = REDUCTION_FACTOR
    hyperband = max_epochs >= MIN_EPOCHS_TO_HALVE and explore_share > 0
    brackets = n_brackets(MIN_EPOCHS, max_epochs, eta) if hyperband else 0
    final = "number_of_epochs" not in fixed
    final_max = max(max_epochs, final_max_epochs or max_epochs)
    why = [
        f"limits.timeout_minutes {timeout_minutes:g} set: {explore_share:.0%} of it explores "
        "with short trials, the rest trains the best configuration on"
        if explore_share > 0
        else f"limits.timeout_minutes {timeout_minutes:g} set and too tight to search: the "
        "first configuration trains for all of it (automode.md says why)",
    ]
    if hyperband:
        steps = ", ".join(map(str, rungs(MIN_EPOCHS, max_epochs, eta)))
        why.append(
            f"hyperband on epochs from {MIN_EPOCHS} to {max_epochs} (the trials' "
            f"number_of_epochs), reduction factor {eta}: a trial goes on at epochs {steps} "
            f"only in the top 1/{eta} of its bracket; {brackets} bracket(s), from aggressive "
            "to cautious, since how early a score tells is not known before the trials"
        )
    elif explore_share > 0:
        why.append(f"trials of {max_epochs} epoch(s) are too short to stop early: no pruner")
    if final:
        why.append(
            "then the best configuration runs on from its checkpoint with the epochs the time "
            f"left holds (its own seconds per epoch; at most {final_max}), pruning and early "
            "stopping off"
        )
    else:
        why.append("number_of_epochs is fixed by the job: no final run trains longer")
    return FidelityPlan(
        timeout_minutes, MIN_EPOCHS, max_epochs, eta, brackets, final, tuple(why),
        explore_share=explore_share, final_max_epochs=final_max,
    )  # fmt: skip


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


def epoch_timing(row: dict) -> tuple[float, float] | None:
    """(seconds per epoch, seconds of start-up and finish) of a finished trial's row, from
    its measured `epoch_s` (without one, its whole duration counts as epochs: an
    over-estimate). None before an epoch finished."""
    epochs, duration = row.get("epochs_completed"), row.get("duration_s")
    if row.get("state") == "running" or not epochs or not duration:
        return None
    epoch_s = row.get("epoch_s") or float(duration) / epochs
    return max(1e-3, float(epoch_s)), max(0.0, float(duration) - epoch_s * epochs)


def final_run(
    rows: list[dict],
    plan: FidelityPlan,
    seconds_left: float | None,
    trials_left: int,
    has_checkpoint: Callable[[int], bool],
) -> FinalRun | None:
    """The best configuration's run on, when its time has come (module docstring, 2.);
    None while exploring, or when the time left would not train it further."""
    if not plan.final_run or trials_left < 1 or seconds_left is None:
        return None
    exploring = seconds_left > (1.0 - plan.explore_share) * plan.timeout_minutes * 60.0
    best = best_row(rows)
    if best is None or (exploring and trials_left > 1):
        return None
    timing = epoch_timing(best)
    if timing is None:
        return None
    epoch_s, overhead_s = timing
    continues = has_checkpoint(best["number"])
    before = best["epochs_completed"] if continues else 0
    spare = seconds_left - overhead_s - PROCESS_START_S - FINISH_RESERVE_S
    fits = int(spare / (epoch_s * EPOCH_MARGIN)) if spare > 0 else 0
    if before + fits <= best["epochs_completed"]:
        return None  # the time left would not train it further
    # Planned long: a short trial's pace is its slow first epoch; the run itself ends its
    # schedule by the budget's end at its measured pace (TrialSpec.finish_by).
    epochs = min(before + int(FILL_OVERPLAN * fits), plan.final_max_epochs or plan.max_epochs)
    how = f"continues from epoch {before}" if continues else "starts again"
    why = (
        f"trial {best['number']}'s configuration {how} to {epochs} epochs: "
        f"{seconds_left:.0f} s left, {epoch_s:.1f} s an epoch"
    )
    return FinalRun(best["number"], epochs, continues, why)


def final_overrides(final: FinalRun, fixed: dict) -> dict:
    """What a final run changes in its configuration: its epochs, and early stopping off
    (its schedule is fitted to the time left; a warm restart dips before it climbs), unless
    the job fixed early stopping itself."""
    overrides: dict = {"number_of_epochs": final.epochs}
    if "early_stopping" not in fixed:
        overrides["early_stopping"] = False
    return overrides
