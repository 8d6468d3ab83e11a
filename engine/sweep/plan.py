"""Planning a job's trials: limits, search space, sampler, pruner and fixed values.

One plan serves the three modes: a single trial (max_trials 1, nothing sampled), a manual
sweep (`sweep` and `search_space` of the job) and AutoMode (a portfolio of known-good
configurations first, then TPE over the space AutoMode chose: automode.py; with a time
budget, Hyperband on epochs and a final full-length run of the best: fidelity.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from automl.engine.sweep import automode as automode_policy
from automl.engine.sweep import automode_rules, groups
from automl.engine.sweep import fidelity as fidelity_policy
from automl.engine.sweep.samplers import normalize_sampling
from automl.engine.sweep.space import SearchSpace

ParameterResolver = Callable[[str, dict], dict]


@dataclass
class SweepPlan:
    """What the controller runs: limits, search space, sampler, pruner, fixed values."""

    mode: str
    max_trials: int
    max_concurrent: int
    timeout_minutes: float | None
    trial_timeout_minutes: float | None
    space: SearchSpace
    sampling: dict
    early_termination: dict | None
    fixed_params: dict
    automode: automode_policy.AutoModePlan | None = None
    n_nodes: int = 1  # properties.node_count_per_trial
    fidelity: fidelity_policy.FidelityPlan | None = None  # AutoMode with a time budget

    def limits(self) -> dict:
        return {
            "max_trials": self.max_trials,
            "max_concurrent_trials": self.max_concurrent,
            "timeout_minutes": self.timeout_minutes,
            "trial_timeout_minutes": self.trial_timeout_minutes,
        }


def default_resolver() -> ParameterResolver:
    """The job schema's resolver: sampled values over the user's, every default filled."""
    from automl.engine.config import resolve_trial_parameters

    return resolve_trial_parameters


def plan_sweep(job, data, gpus: list[int], resolver: ParameterResolver) -> SweepPlan:
    """Limits, search space and policies of a job, for any of the three modes."""
    plan = _base_plan(job)
    if job.mode == "sweep":
        _plan_manual_sweep(plan, job)
    elif job.mode == "automode":
        plan.automode = _plan_automode(job, data, gpus, plan, resolver)
        plan.space = plan.automode.search_space
        plan.sampling = {
            "type": "bayesian",
            "seed": plan.fixed_params.get("random_seed"),
            "n_startup_trials": plan.automode.n_portfolio,
        }
        _plan_fidelity(plan, job)
    return plan


def _plan_fidelity(plan: SweepPlan, job) -> None:
    """With a time budget, AutoMode fills it by multi-fidelity (fidelity.py)."""
    automode = plan.automode
    epochs = fidelity_policy.trial_epochs(automode.portfolio, plan.fixed_params)
    timeout = fidelity_policy.user_timeout(job)
    data_epochs = automode_policy.sized_epochs(
        automode.data.n_train, automode.hardware.device, budgeted=timeout is not None
    )
    plan.fidelity = fidelity_policy.plan_fidelity(
        timeout,
        plan.max_trials,
        epochs,
        final_max_epochs=data_epochs * fidelity_policy.FINAL_EPOCH_FACTOR,
        fixed=plan.fixed_params,
        explore_share=automode.explore_share,
    )
    if plan.fidelity is not None:
        plan.early_termination = plan.fidelity.early_termination()


def _base_plan(job) -> SweepPlan:
    """The limits, and one trial of the user's parameters (a single trial's whole plan)."""
    limits = job.resolved.get("limits") or {}
    max_trials = 1 if job.mode == "single" else int(limits.get("max_trials") or 1)
    fixed = dict(job.user_training_parameters or {})
    return SweepPlan(
        mode=job.mode,
        max_trials=max_trials,
        max_concurrent=max(1, min(int(limits.get("max_concurrent_trials") or 1), max_trials)),
        timeout_minutes=limits.get("timeout_minutes"),
        trial_timeout_minutes=limits.get("trial_timeout_minutes"),
        space=SearchSpace.from_config(None),
        sampling={"type": "random", "seed": fixed.get("random_seed")},
        early_termination=None,
        fixed_params=fixed,
        n_nodes=groups.node_count(job),
    )


def _plan_manual_sweep(plan: SweepPlan, job) -> None:
    sweep = job.resolved.get("sweep") or {}
    plan.sampling = normalize_sampling(sweep.get("sampling_algorithm"))
    plan.space = SearchSpace.from_config(
        job.resolved.get("search_space"),
        logbase=plan.sampling.get("logbase") or math.e,
        int_keys=integer_hyperparameters(job.task),
    )
    plan.early_termination = sweep.get("early_termination") or None


def integer_hyperparameters(task: str) -> set[str]:
    """Searchable keys the job schema types as integers: sampled floats for them round."""
    from automl import schemas

    names = set()
    for name in schemas.searchable_names(task):
        try:
            kind = schemas.hyperparameter_schema(name).get("type")
        except KeyError:  # per-task keys (model_name) have no task-free schema
            continue
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            names.add(name)
    return names


def _plan_automode(job, data, gpus, plan: SweepPlan, resolver):
    memory = _gpu_memory_gb(gpus[0]) if gpus else None
    hardware = automode_policy.profile_hardware(gpus, memory, os.cpu_count() or 1)
    profile = automode_policy.profile_data(job.task, Path(data.train_manifest))

    def default_learning_rate(model: str) -> float | None:
        return resolver(job.task, {"model_name": model}).get("learning_rate")

    return automode_policy.plan_automode(
        job.task,
        profile,
        hardware,
        plan.max_trials,
        plan.fixed_params,
        default_learning_rate,
        automode_options(job.task, plan, fidelity_policy.user_timeout(job)),
    )


def automode_options(
    task: str, plan: SweepPlan, user_timeout: float | None = None
) -> automode_policy.AutoModeOptions:
    """Pretrained weights or not (the user's value, else the schema default), each
    exploring trial's share of timeout_minutes, and the budget the job file gives (None:
    the schema's 7-day default is none): what AutoMode's rules need beyond the data."""
    from automl import schemas

    pretrained = plan.fixed_params.get("pretrained", schemas.task_default(task, "pretrained"))
    n_explore = automode_policy.portfolio_size(plan.max_trials, plan.max_trials)
    budget = automode_rules.trial_budget_s(plan.timeout_minutes, n_explore, plan.max_concurrent)
    job_budget = user_timeout * 60.0 if user_timeout else None
    return automode_policy.AutoModeOptions(
        pretrained=bool(pretrained), trial_budget_s=budget, job_budget_s=job_budget
    )


def _gpu_memory_gb(index: int) -> float | None:
    import torch

    return torch.cuda.get_device_properties(index).total_memory / 2**30
