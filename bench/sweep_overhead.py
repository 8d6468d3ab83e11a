"""Sweep engine overhead, in one run.

1. 20 short trials through the engine (`run_job`: a process per trial, spec, status polling,
   journal storage, summary after each trial) against the same 20 trainings in one plain
   loop. The training is the contract-honouring fake trial of the tests (sleeping epochs),
   so the difference is the engine's own cost. Goal: at most 1.05x for 2-second trials.
2. ask+tell cost of our sampler wrapper (SearchSpace define-by-run + SweepSampler) against
   bare Optuna suggesting the same parameters, at 10, 100 and 1,000 trials (random
   sampler; TPE at 10 and 100). Goal: at most 1.1x.

Usage: python bench/sweep_overhead.py [--n-trials 20] [--trial-seconds 2]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "sweep"))

from sweep_stubs import FAKE_TRIAL, StubJob, stub_resolver, write_manifests  # noqa: E402

from automl.engine.sweep import SearchSpace, run_job  # noqa: E402
from automl.engine.sweep.samplers import SweepSampler  # noqa: E402

N_EPOCHS = 4
SPACE = [
    {
        "model_name": {"type": "choice", "values": ["resnet18", "resnet50", "mobilenetv2"]},
        "learning_rate": {"type": "loguniform", "min_value": -9, "max_value": -2},
        "training_batch_size": {"type": "quniform", "min_value": 8, "max_value": 64, "q": 8},
        "momentum": {"type": "uniform", "min_value": 0.8, "max_value": 0.99},
        "optimizer": {"type": "choice", "values": ["sgd", "adam", "adamw"]},
    }
]


def bench_engine(n_trials: int, trial_seconds: float) -> tuple[float, float]:
    """(engine seconds, plain-loop seconds) for n_trials trainings of trial_seconds."""
    os.environ["FAKE_TRIAL_EPOCH_S"] = str(trial_seconds / N_EPOCHS)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_manifests(Path(tmp) / "data")
        job = StubJob(
            mode="sweep",
            name="bench",
            resolved={
                "limits": {"max_trials": n_trials, "max_concurrent_trials": 1},
                "sweep": {"sampling_algorithm": {"type": "random", "seed": 0}},
                "search_space": SPACE,
            },
            user_training_parameters={"number_of_epochs": N_EPOCHS},
        )
        started = time.perf_counter()
        run_job(
            job,
            Path(tmp) / "run",
            data,
            gpus=[],
            trial_module=FAKE_TRIAL,
            resolve_parameters=stub_resolver,
        )
        engine_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(n_trials):
        for _ in range(N_EPOCHS):
            time.sleep(trial_seconds / N_EPOCHS)  # the same training, no engine around it
    return engine_s, time.perf_counter() - started


def bare_suggest(trial: optuna.Trial) -> dict:
    return {
        "model_name": trial.suggest_categorical(
            "model_name", ["resnet18", "resnet50", "mobilenetv2"]
        ),
        "learning_rate": trial.suggest_float("learning_rate", math.exp(-9), math.exp(-2), log=True),
        "training_batch_size": int(
            round(trial.suggest_float("training_batch_size", 8, 64) / 8) * 8
        ),
        "momentum": trial.suggest_float("momentum", 0.8, 0.99),
        "optimizer": trial.suggest_categorical("optimizer", ["sgd", "adam", "adamw"]),
    }


def objective(params: dict) -> float:
    return -abs(math.log(params["learning_rate"]) + 4.6) + params["momentum"]


def time_bare(n: int, make_sampler) -> float:
    study = optuna.create_study(sampler=make_sampler(), direction="maximize")
    started = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        params = bare_suggest(trial)
        trial.set_user_attr("automl_params", params)  # what our wrapper stores too
        study.tell(trial, objective(params))
    return time.perf_counter() - started


def time_wrapper(n: int, make_sampler) -> float:
    space = SearchSpace.from_config(SPACE, int_keys={"training_batch_size"})
    study = optuna.create_study(sampler=make_sampler(), direction="maximize")
    sampler = SweepSampler(study, space)
    started = time.perf_counter()
    for _ in range(n):
        trial, params = sampler.ask()
        study.tell(trial, objective(params))
    return time.perf_counter() - started


def bench_ask_tell() -> None:
    samplers = {
        "random": lambda: optuna.samplers.RandomSampler(seed=0),
        "tpe": lambda: optuna.samplers.TPESampler(seed=0, multivariate=True, group=True),
    }
    print("\nask+tell (in-memory storage): ours vs bare Optuna")
    print(f"{'sampler':8} {'trials':>6} {'bare ms/trial':>14} {'ours ms/trial':>14} {'ratio':>6}")
    for name, make in samplers.items():
        for n in (10, 100, 1000) if name == "random" else (10, 100):
            time_bare(min(n, 10), make)  # warm up imports and caches
            bare, ours = time_bare(n, make), time_wrapper(n, make)
            print(
                f"{name:8} {n:>6} {1000 * bare / n:>14.3f} {1000 * ours / n:>14.3f} "
                f"{ours / bare:>6.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--trial-seconds", type=float, default=2.0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    logging.basicConfig(level=logging.WARNING)
    engine_s, plain_s = bench_engine(args.n_trials, args.trial_seconds)
    overhead_ms = 1000 * (engine_s - plain_s) / args.n_trials
    print(f"{args.n_trials} trials of {args.trial_seconds:g} s (cpu count {os.cpu_count()})")
    print(f"  engine      {engine_s:8.2f} s")
    print(f"  plain loop  {plain_s:8.2f} s")
    print(f"  overhead    {overhead_ms:8.1f} ms per trial, ratio {engine_s / plain_s:.3f}x")
    bench_ask_tell()


if __name__ == "__main__":
    main()
