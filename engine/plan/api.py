"""`automl job plan` in one engine call: the job's trials, a short calibration of each
configuration on the device the job would use, and the estimate (estimate.py).

`plan_job` plans a job file (its data prepared into a temporary folder, as `job create`
would); `plan_run` plans a run directory whose data is prepared and writes its plan.json
(started by `job create` before the first trial: engine/runs/submit.py).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from automl import schemas
from automl.engine.errors import UsageError
from automl.engine.plan.calibrate import CALIBRATION_LIMIT, PROCESS_START_S, EpochCost, calibrate
from automl.engine.plan.estimate import JobShape, TrialCost, estimate
from automl.engine.plan.trials import cost_key, planned_trials
from automl.engine.utils.files import write_json_atomic

logger = logging.getLogger("automl.plan")

PLAN_FILE = "plan.json"
PLAN_VERSION = 1


def plan_job(
    job_path: str | Path,
    overrides: Sequence[str] = (),
    *,
    price_per_gpu_hour: float | None = None,
    calibration_seconds: float | None = None,
    gpus: list[int] | None = None,
) -> dict:
    """The plan of a job file (nothing is written): see the module docstring."""
    from automl.engine.config import load_job
    from automl.engine.data import prepare_job_data

    _check_price(price_per_gpu_hour)
    job = load_job(job_path, overrides)
    with tempfile.TemporaryDirectory(prefix="automl-plan-") as folder:
        data = prepare_job_data(job.resolved, Path(folder), job_file=str(job.path))
        plan = _plan(job, data, gpus, price_per_gpu_hour, calibration_seconds)
    return {**plan, "file": str(job_path)}


class NotCalibrated(Exception):
    """A configuration of the job was never calibrated on this machine (plan_run)."""


def plan_run(run_dir: Path) -> dict:
    """Plan a run directory's job on its prepared data from the stored calibrations (no
    batch is run) and write its plan.json; NotCalibrated when one is missing."""
    import json

    from automl.engine.config import load_job
    from automl.engine.data import load_prepared_data
    from automl.engine.runs.submit import SOURCE_FILE

    source = json.loads((run_dir / SOURCE_FILE).read_text(encoding="utf-8"))
    job = load_job(run_dir / "job.yml", source["overrides"], base_dir=Path(source["job_dir"]))
    job.name = source.get("name") or job.name
    plan = _plan(job, load_prepared_data(run_dir), None, None, None, cached_only=True)
    write_json_atomic(run_dir / PLAN_FILE, plan)
    return plan


def _check_price(price: float | None) -> None:
    if price is not None and not (math.isfinite(price) and price >= 0):
        raise UsageError(
            f"--price-per-gpu-hour {price}: a price must be a number >= 0",
            hint="pass the hourly price of one GPU, e.g. --price-per-gpu-hour 2.5",
        )


def calibration_budget(seconds: float | None) -> float:
    """The calibration's time limit: --calibration-seconds, else the limits.json bound."""
    if seconds is None:
        return float(schemas.limit(CALIBRATION_LIMIT))
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(
            f"--calibration-seconds {seconds}: the calibration's time limit must be > 0",
            hint="pass a number of seconds, or leave the flag out for "
            f"{schemas.limit_spec(CALIBRATION_LIMIT)['default']}",
        )
    return float(seconds)


def _plan(job, data, gpus, price, calibration_seconds, *, cached_only: bool = False) -> dict:
    from automl.engine.sweep.plan import default_resolver, plan_sweep
    from automl.engine.sweep.slots import detect_gpus

    budget = calibration_budget(calibration_seconds)
    gpus = detect_gpus() if gpus is None else list(gpus)
    resolver = default_resolver()
    sweep_plan = plan_sweep(job, data, gpus, resolver)
    trials = planned_trials(job, sweep_plan, resolver)
    device = "cuda" if gpus else "cpu"
    calibrator = Calibrator(job, data, device, sweep_plan.max_concurrent)
    costs, calibration = calibrator.run(trials.configs, budget, cached_only)
    shape = _shape(sweep_plan, trials, costs, device, gpus)
    plan = estimate(shape, price)
    plan.update(_context(job, data, costs, trials.configs, calibration))
    return plan


def trial_context(job, data) -> dict:
    """What calibrate() reads of the job and its prepared data."""
    return {
        "task": job.task,
        "labels": data.labels,
        "train_manifest": str(data.train_manifest),
        "valid_manifest": str(data.valid_manifest),
        "primary_metric": job.primary_metric,
        "n_train": data.n_train,
        "n_valid": data.n_valid,
    }


class Calibrator:
    """Each distinct configuration's EpochCost: measured (then stored, cache.py), or, with
    `cached_only`, taken from the stored calibrations of this machine."""

    def __init__(self, job, data, device: str, n_slots: int) -> None:
        from automl.engine.trials import cpu_threads_per_slot

        self.device, self.n_slots = device, n_slots
        self.budget: float | None = None  # the calibration's limit, seconds (run())
        self.where = device if device == "cuda" else f"cpu:{cpu_threads_per_slot(n_slots)}"
        self.context = trial_context(job, data)

    def key(self, config_key: str) -> str:
        from automl.engine.plan.cache import entry_key

        context = self.context
        return entry_key(
            self.where, context["task"], config_key, context["n_train"], context["n_valid"]
        )

    def run(self, configs: list[dict], budget: float, cached_only: bool):
        distinct = {cost_key(c): c for c in configs}
        if cached_only:
            return self._cached(distinct), {"seconds": 0.0, "device": self.device, "reused": True}
        import_s = _import_seconds()  # before the clock: the limit is for the batches
        started = time.monotonic()
        costs = self._measure(distinct, budget, started, import_s)
        from automl.engine.plan.cache import save_cache

        save_cache({self.key(key): cost for key, cost in costs.items() if cost.calibrated})
        spent = round(time.monotonic() - started + import_s, 2)
        return costs, {"seconds": spent, "limit_seconds": budget, "device": self.device}

    def _cached(self, distinct: dict) -> dict[str, EpochCost]:
        from automl.engine.plan.cache import load_cache

        stored = load_cache()
        missing = [key for key in distinct if self.key(key) not in stored]
        if missing:
            raise NotCalibrated(missing)
        return {key: stored[self.key(key)] for key in distinct}

    def _measure(self, distinct: dict, budget: float, started: float, import_s: float):
        costs: dict[str, EpochCost] = {}
        end, self.budget = started + budget, budget
        with _threads(self.device, self.n_slots):
            for index, (key, config) in enumerate(distinct.items()):
                share = (end - time.monotonic()) / (len(distinct) - index)
                cost = None
                if share > 0 or not costs:
                    cost = self._one(config, time.monotonic() + max(share, 0.0), end, costs)
                costs[key] = cost or _borrowed(config, distinct, costs, budget)
                if cost is not None:
                    costs[key] = _with_start(cost, import_s)
        return costs

    def _one(self, config: dict, deadline: float, end: float, costs: dict) -> EpochCost | None:
        """The measured cost; None when the time limit ran out and another configuration
        was measured (whose cost it then borrows); the limit's error when none was."""
        from automl.engine.errors import LimitError

        try:
            cost = calibrate(config, self.context, self.device, (deadline, end), self.budget)
        except LimitError:
            if not costs:
                raise
            return None
        model = config.get("model_name")
        logger.info("calibrated %s: %.2f s per training epoch", model, cost.train_s)
        return cost


def _borrowed(config: dict, distinct: dict, costs: dict, budget: float) -> EpochCost:
    """A configuration the time limit left out: the slowest measured one's cost, said."""
    from dataclasses import replace

    model = config.get("model_name")
    same = [costs[k] for k, c in distinct.items() if k in costs and c.get("model_name") == model]
    slowest = max(same or costs.values(), key=lambda cost: cost.train_s)
    note = (
        f"{model}: not calibrated within the calibration's time limit ({budget:g} s): "
        "timed as the slowest configuration measured; "
        f"{schemas.limit_hint(CALIBRATION_LIMIT)} for a measurement"
    )
    return replace(slowest, calibrated=False, batches=0, note=note)


def _import_seconds() -> float:
    """What a trial process spends importing the training code (timed here, once)."""
    started = time.monotonic()
    import automl.engine.training.loop  # noqa: F401  (torch, torchvision, the engine)

    return time.monotonic() - started


def _with_start(cost: EpochCost, import_s: float) -> EpochCost:
    from dataclasses import replace

    if not cost.calibrated:
        return cost
    return replace(cost, overhead_s=cost.overhead_s + import_s + PROCESS_START_S)


class _threads:
    """On CPU, calibrate with the threads one of the job's concurrent trials gets."""

    def __init__(self, device: str, n_slots: int) -> None:
        self.device, self.n_slots, self.before = device, n_slots, None

    def __enter__(self):
        import torch

        from automl.engine.trials import cpu_threads_per_slot

        if self.device == "cpu":
            self.before = torch.get_num_threads()
            torch.set_num_threads(cpu_threads_per_slot(self.n_slots))
        return self

    def __exit__(self, *exc) -> None:
        import torch

        if self.before is not None:
            torch.set_num_threads(self.before)


def _shape(sweep_plan, trials, costs, device: str, gpus: list[int]) -> JobShape:
    from automl.engine.trials.launch import usable_cpus

    slots = max(1, min(sweep_plan.max_concurrent, len(trials.configs) or 1))
    per_trial = max(1, len(gpus) // slots) if gpus else 0
    return JobShape(
        trials=[_trial_cost(c, costs[cost_key(c)]) for c in trials.configs],
        max_trials=sweep_plan.max_trials,
        slots=slots,
        device=device,
        gpus_per_trial=per_trial,
        n_cpus=usable_cpus(),
        timeout_minutes=sweep_plan.timeout_minutes,
        trial_timeout_minutes=sweep_plan.trial_timeout_minutes,
        early_termination=sweep_plan.early_termination,
        reachable_trials=trials.reachable,
        notes=sorted({cost.note for cost in costs.values() if cost.note}),
    )


def _trial_cost(config: dict, cost: EpochCost) -> TrialCost:
    epochs = int(config.get("number_of_epochs") or 1)
    stop = None
    if config.get("early_stopping"):
        delay = int(config.get("early_stopping_delay") or 0)
        stop = min(epochs, delay + int(config.get("early_stopping_patience") or 0))
    return TrialCost(
        model=str(config.get("model_name")),
        epochs=epochs,
        train_s=cost.train_s,
        valid_s=cost.valid_s,
        overhead_s=cost.overhead_s,
        evaluation_frequency=int(config.get("evaluation_frequency") or 1),
        early_stop_epoch=stop,
    )


def _context(job, data, costs, configs, calibration) -> dict:
    """The plan's inputs: the job, its data and each model's seconds per epoch."""
    models = {}
    for config in configs:
        cost = costs[cost_key(config)]
        models.setdefault(
            str(config.get("model_name")),
            {
                "seconds_per_epoch": round(cost.train_s + cost.valid_s, 3),
                "train_seconds_per_epoch": round(cost.train_s, 3),
                "validation_seconds": round(cost.valid_s, 3),
                "trial_overhead_seconds": round(cost.overhead_s, 2),
                "calibrated": cost.calibrated,
                "batches_timed": cost.batches,
            },
        )
    return {
        "version": PLAN_VERSION,
        "job": {"name": job.name, "task": job.task, "mode": job.mode},
        "data": {**_image_sizes(job.task, data), "train_images": data.n_train},
        "models": models,
        "calibration": calibration,
    }


def _image_sizes(task: str, data) -> dict:
    """The median image size of the training data (the data stage's profile)."""
    from automl.engine.sweep.automode import profile_data

    profile = profile_data(task, Path(data.train_manifest))
    return {
        "validation_images": data.n_valid,
        "median_image_width": profile.median_width,
        "median_image_height": profile.median_height,
    }
