"""Per-trial cost of the study storage: journal file vs. PostgreSQL, 10/100/1,000 trials.

    python bench/storage.py [--postgres URL] [--sizes 10,100,1000]

For each storage and study size, one fresh study gets that many trials, each:
`ask` (one float suggested) + `tell`; and the way a sweep worker asks
(engine/sweep/storage.py: budget lock, count the budget over all trials, ask, heartbeat,
then tell), which also reads every trial once per ask. Prints milliseconds per trial.
Without --postgres a throw-away server is started on loopback (initdb + pg_ctl, as the
tests do: tests/sweep/pg_support.py), so the PostgreSQL binaries must be installed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def plain_ask_tell(study: optuna.Study, n_trials: int) -> None:
    for _ in range(n_trials):
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0.0, 1.0))


def worker_ask_tell(study: optuna.Study, reference: str, n_trials: int) -> None:
    from automl.engine.sweep.heartbeat import HeartbeatKeeper
    from automl.engine.sweep.storage import budget_lock, budget_used

    keeper = HeartbeatKeeper(study, "bench")
    for _ in range(n_trials):
        with budget_lock(study, reference):
            budget_used(study)
            trial = study.ask()
            keeper.beat_now(trial._trial_id)
        study.tell(trial, trial.suggest_float("x", 0.0, 1.0))


def new_study(reference: str) -> optuna.Study:
    from automl.engine.sweep.storage import make_storage

    return optuna.create_study(
        study_name=f"bench-{uuid.uuid4().hex[:8]}",
        storage=make_storage(reference),
        sampler=optuna.samplers.RandomSampler(seed=0),
        direction="maximize",
    )


def time_per_trial(reference: str, n_trials: int, worker: bool) -> float:
    study = new_study(reference)
    start = time.perf_counter()
    if worker:
        worker_ask_tell(study, reference, n_trials)
    else:
        plain_ask_tell(study, n_trials)
    return 1000.0 * (time.perf_counter() - start) / n_trials


def start_server():
    sys.path.insert(0, str(ROOT / "tests" / "sweep"))
    from pg_support import start_postgres

    server = start_postgres()
    if isinstance(server, str):
        sys.exit(f"bench/storage.py: {server} (or pass --postgres URL)")
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (default: start a local server)")
    parser.add_argument("--sizes", default="10,100,1000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    server = None if args.postgres else start_server()
    postgres = args.postgres or server.url
    try:
        with tempfile.TemporaryDirectory() as folder:
            report(sizes, folder, postgres)
    finally:
        if server is not None:
            server.stop()


def report(sizes: list[int], folder: str, postgres: str) -> None:
    from automl.engine.trials.storage_url import redact_url

    print(f"postgres: {redact_url(postgres)}")
    print(f"{'storage':<10} {'trials':>6} {'ask+tell ms/trial':>18} {'worker ask+tell':>16}")
    for name in ("journal", "postgres"):
        for n_trials in sizes:
            reference = postgres if name == "postgres" else str(Path(folder) / f"{n_trials}.j")
            plain = time_per_trial(reference, n_trials, worker=False)
            if name == "journal":
                reference = str(Path(folder) / f"{n_trials}-w.j")
            worker = time_per_trial(reference, n_trials, worker=True)
            print(f"{name:<10} {n_trials:>6} {plain:>18.2f} {worker:>16.2f}", flush=True)


if __name__ == "__main__":
    main()
