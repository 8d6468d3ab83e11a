"""The plan's arithmetic: measured costs per trial -> the job's wall time, range, GPU-hours,
cost and warnings. Pure (no torch, no files): unit-tested on its own.

The model of a job: trials run in `slots` parallel places (max_concurrent_trials), each
trial taking the next free slot, in order (list scheduling, as the controller does). A
trial costs `overhead_s` (process start, imports, model build, first batch) plus, per
epoch, its training seconds and, every `evaluation_frequency` epochs, its validation
seconds. Early termination (a sweep's pruner) stops a pruned trial at its first check
(`delay_evaluation`, `evaluation_interval`); the trials of the first wave are never
pruned (nothing to compare with). Early stopping in a trial may stop it after
`early_stopping_delay + early_stopping_patience` epochs.

- `wall_seconds_range`: [every trial stopped at its earliest stop, every trial running all
  its epochs];
- `wall_seconds`: the expected time: without a pruner every epoch; with one, its share of
  trials pruned (truncation_percentage, else half) halfway between the first check and the
  last epoch;
- `wall_seconds_without_early_termination`: the range's high end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DEFAULT_PRUNED_SHARE = 0.5  # bandit, median stopping: about half of the later trials


@dataclass(frozen=True)
class TrialCost:
    """One planned trial: its model and what one of its epochs costs here."""

    model: str
    epochs: int
    train_s: float  # one training epoch
    valid_s: float  # one validation pass
    overhead_s: float
    evaluation_frequency: int = 1
    early_stop_epoch: int | None = None  # earliest stop by early_stopping (None: off)

    def seconds(self, epochs: int) -> float:
        evaluations = math.ceil(epochs / max(1, self.evaluation_frequency))
        return self.overhead_s + epochs * self.train_s + evaluations * self.valid_s

    @property
    def full_s(self) -> float:
        return self.seconds(self.epochs)


@dataclass(frozen=True)
class JobShape:
    """What the job asks: the trials in order, where they run, its limits and pruner."""

    trials: list[TrialCost]
    max_trials: int
    slots: int
    device: str  # "cuda" | "cpu"
    gpus_per_trial: int = 0
    n_cpus: int = 1
    timeout_minutes: float | None = None
    trial_timeout_minutes: float | None = None
    early_termination: dict | None = None
    reachable_trials: int | None = None  # a grid's points, when fewer than max_trials
    notes: list[str] = field(default_factory=list)


def schedule(durations: list[float], slots: int) -> tuple[float, list[float]]:
    """(wall seconds, each trial's end) when trials take the next free slot in order."""
    free = [0.0] * max(1, slots)
    ends = []
    for duration in durations:
        slot = free.index(min(free))
        free[slot] += duration
        ends.append(free[slot])
    return (max(ends) if ends else 0.0), ends


def first_check_epoch(policy: dict | None, epochs: int) -> int | None:
    """The first epoch a pruner may stop a trial at (None: no pruner)."""
    if not policy:
        return None
    delay = int(policy.get("delay_evaluation") or 0)
    interval = max(1, int(policy.get("evaluation_interval") or 1))
    first = max(interval, delay, 1)
    return first if first < epochs else None


def pruned_share(policy: dict | None) -> float:
    if not policy:
        return 0.0
    if str(policy.get("type", "")).lower().startswith("truncation"):
        return float(policy.get("truncation_percentage") or 0) / 100.0
    return DEFAULT_PRUNED_SHARE


def _stop_epochs(trial: TrialCost, check: int | None) -> int:
    """The earliest epoch a trial may stop at (pruner or early stopping)."""
    candidates = [trial.epochs]
    if check is not None:
        candidates.append(check)
    if trial.early_stop_epoch is not None:
        candidates.append(trial.early_stop_epoch)
    return max(1, min(candidates))


def trial_durations(shape: JobShape) -> dict[str, list[float]]:
    """Each trial's seconds: `low` (earliest stop), `expected`, `high` (every epoch)."""
    policy = shape.early_termination
    share = pruned_share(policy)
    low, expected, high = [], [], []
    for index, trial in enumerate(shape.trials):
        check = first_check_epoch(policy, trial.epochs) if index >= shape.slots else None
        low.append(trial.seconds(_stop_epochs(trial, check)))
        high.append(trial.full_s)
        if check is None:
            expected.append(trial.full_s)
        else:
            pruned = trial.seconds(math.ceil((check + trial.epochs) / 2))
            expected.append(share * pruned + (1 - share) * trial.full_s)
    return {"low": low, "expected": expected, "high": high}


def estimate(shape: JobShape, price_per_gpu_hour: float | None = None) -> dict:
    """The plan's numbers and warnings (see the module docstring)."""
    durations = trial_durations(shape)
    wall = {name: schedule(values, shape.slots)[0] for name, values in durations.items()}
    gpus = shape.slots * shape.gpus_per_trial if shape.device == "cuda" else 0
    plan = {
        "wall_seconds": round(wall["expected"], 1),
        "wall_seconds_range": [round(wall["low"], 1), round(wall["high"], 1)],
        "wall_seconds_without_early_termination": round(wall["high"], 1),
        "n_trials": len(shape.trials),
        "max_trials": shape.max_trials,
        "max_concurrent_trials": shape.slots,
        "device": shape.device,
        "gpus": gpus,
        "gpu_hours": round(wall["expected"] * gpus / 3600.0, 4),
        "cpu_hours": 0.0 if gpus else round(wall["expected"] * shape.n_cpus / 3600.0, 4),
        "cost": None,
        "price_per_gpu_hour": price_per_gpu_hour,
        "trials": _trial_rows(shape, durations),
        "warnings": warnings_for(shape, durations),
        "notes": list(shape.notes),
    }
    if price_per_gpu_hour is not None:
        plan["cost"] = round(plan["gpu_hours"] * price_per_gpu_hour, 2)
    return plan


def _trial_rows(shape: JobShape, durations: dict[str, list[float]]) -> list[dict]:
    return [
        {
            "number": index,
            "model": trial.model,
            "epochs": trial.epochs,
            "seconds": round(durations["expected"][index], 1),
            "seconds_range": [
                round(durations["low"][index], 1),
                round(durations["high"][index], 1),
            ],
        }
        for index, trial in enumerate(shape.trials)
    ]


def warnings_for(shape: JobShape, durations: dict[str, list[float]]) -> list[str]:
    """The job's limits that cut it short, each with the setting that would fit."""
    found = _unreachable_warnings(shape)
    found += _timeout_warnings(shape, durations["expected"])
    found += _trial_timeout_warnings(shape)
    return found


def _unreachable_warnings(shape: JobShape) -> list[str]:
    reachable = shape.reachable_trials
    if reachable is None or reachable >= shape.max_trials:
        return []
    return [
        f"limits.max_trials {shape.max_trials} cannot be reached: the search space has only "
        f"{reachable} grid points; set max_trials: {reachable} (or add values to the grid)"
    ]


def _timeout_warnings(shape: JobShape, expected: list[float]) -> list[str]:
    if shape.timeout_minutes is None or not expected:
        return []
    limit_s = float(shape.timeout_minutes) * 60.0
    wall, ends = schedule(expected, shape.slots)
    if wall <= limit_s:
        return []
    done = sum(1 for end in ends if end <= limit_s)
    return [
        f"limits.timeout_minutes {shape.timeout_minutes:g} will stop the job after about "
        f"{done} of its {len(expected)} trials (expected {wall / 60.0:.1f} min), so "
        f"max_trials {shape.max_trials} cannot be reached; to fit, set timeout_minutes: "
        f"{math.ceil(wall / 60.0)} or max_trials: {max(1, done)}"
    ]


def _trial_timeout_warnings(shape: JobShape) -> list[str]:
    if shape.trial_timeout_minutes is None:
        return []
    limit_s = float(shape.trial_timeout_minutes) * 60.0
    found, seen = [], set()
    for trial in shape.trials:
        if trial.full_s <= limit_s or trial.model in seen:
            continue
        seen.add(trial.model)
        per_epoch = trial.seconds(2) - trial.seconds(1)
        fitting = max(0, int((limit_s - trial.overhead_s) // max(per_epoch, 1e-9)))
        found.append(
            f"limits.trial_timeout_minutes {shape.trial_timeout_minutes:g} cuts the trials of "
            f"{trial.model} short (about {trial.full_s / 60.0:.1f} min each); set "
            f"trial_timeout_minutes: {math.ceil(trial.full_s / 60.0)} or number_of_epochs: "
            f"{fitting}"
        )
    return found
