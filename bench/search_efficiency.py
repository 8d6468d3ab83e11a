"""Search efficiency: trials, epochs and wall time to reach a target score with random
search, TPE, and TPE with pruning, on one synthetic image set, median over seeds.

The set is drawn here: coloured shapes (disc, square, triangle, cross, ring, bar), bright on dark
noisy backgrounds, at --size px (32 by default, 16 with --quick), each shape in random colours,
positions and scales, so colour tells nothing and the network has to see the shape.

Every trial is a real training, in this process: a small CNN (width, depth) trained with SGD
on the drawn set for up to --epochs epochs with the hyperparameters the sampler asks for
(learning rate, momentum, weight decay, width, batch size, label smoothing), reporting its
validation accuracy after every epoch to its Optuna study. The methods:

- random: Optuna's RandomSampler, every trial runs all its epochs;
- tpe: Optuna's TPESampler (5 random start-up trials), every trial runs all its epochs;
- tpe+pruning: the same TPE with AutoMode's multi-fidelity pruner (Hyperband on epochs,
  `automl.engine.sweep.pruners.FidelityPruner`, reduction factor 3).

A search stops at the first trial whose best accuracy reaches --target, or after
--max-trials (then it counts as max_trials + 1 trials, marked ">"). The table gives, per
method, the median over seeds of trials, epochs trained and seconds to the target, and the
ratio TPE+pruning / random (the goal: at most 0.5 in trials).

Usage: python bench/search_efficiency.py [--quick] [--seeds N] [--max-trials N]
       [--epochs N] [--target ACC] [--size PX] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from dataclasses import dataclass

METHODS = ("random", "tpe", "tpe+pruning")
SHAPES = ("disc", "square", "triangle", "cross", "ring", "bar")
N_STARTUP_TRIALS = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small set, few seeds: minutes")
    parser.add_argument("--seeds", type=int, help="searches per method (default 5, quick 3)")
    parser.add_argument("--max-trials", type=int, help="trials per search (40, quick 20)")
    parser.add_argument("--epochs", type=int, help="epochs per full trial (9, quick 6)")
    parser.add_argument("--target", type=float, help="validation accuracy to reach")
    parser.add_argument("--size", type=int, help="image side in px (32, quick 16)")
    parser.add_argument("--n-train", type=int, help="training images (1200, quick 300)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.seeds < 1 or args.max_trials < 1 or args.epochs < 3:
        parser.error("--seeds and --max-trials must be >= 1, --epochs >= 3")
    return args


FULL = {"seeds": 5, "max_trials": 40, "epochs": 9, "target": 0.9, "size": 32, "n_train": 1200}
QUICK = {"seeds": 3, "max_trials": 20, "epochs": 6, "target": 0.8, "size": 16, "n_train": 300}


# ---- the data set -------------------------------------------------------------------------


def draw_shapes(n: int, size: int, seed: int):
    """(images float32 [n, 3, size, size], labels int64 [n]): one shape per image."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = np.empty((n, 3, size, size), np.float32)
    labels = rng.integers(0, len(SHAPES), n)
    for i, label in enumerate(labels):
        mask = shape_mask(SHAPES[label], xx, yy, rng)
        background = rng.uniform(0, 0.4, 3)[:, None, None] + rng.normal(0, 0.05, (3, size, size))
        colour = rng.uniform(0.6, 1, 3)[:, None, None]
        images[i] = np.where(mask, colour, background)
    return images, labels


def shape_mask(name: str, xx, yy, rng):
    """Where the shape `name` is, at a random centre and scale."""
    import numpy as np

    cx, cy = rng.uniform(0.3, 0.7, 2)
    r = rng.uniform(0.15, 0.28)
    dx, dy = xx - cx, yy - cy
    if name == "disc":
        return dx**2 + dy**2 < r**2
    if name == "ring":
        return np.abs(np.sqrt(dx**2 + dy**2) - r * 0.8) < r * 0.25
    if name == "square":
        return (np.abs(dx) < r * 0.8) & (np.abs(dy) < r * 0.8)
    if name == "triangle":
        return (dy < r * 0.7) & (dy > -r) & (np.abs(dx) < (dy + r) * 0.6)
    if name == "cross":
        return ((np.abs(dx) < r * 0.25) | (np.abs(dy) < r * 0.25)) & (
            np.maximum(abs(dx), abs(dy)) < r
        )
    return (np.abs(dx) < r) & (np.abs(dy) < r * 0.25)  # bar


# ---- one trial ----------------------------------------------------------------------------


@dataclass
class Data:
    x_train: object
    y_train: object
    x_valid: object
    y_valid: object


def make_data(args: argparse.Namespace) -> Data:
    import torch

    x, y = draw_shapes(args.n_train + args.n_train // 2, args.size, seed=0)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    n = args.n_train
    return Data(x[:n], y[:n], x[n:], y[n:])


def make_model(width: int, depth: int, n_classes: int):
    from torch import nn

    layers, channels = [], 3
    for index in range(depth):
        out = width * 2**index
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        layers.append(nn.MaxPool2d(2))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes)]
    return nn.Sequential(*layers)


def suggest(trial) -> dict:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1.0, log=True),
        "momentum": trial.suggest_float("momentum", 0.0, 0.99),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
        "width": trial.suggest_categorical("width", [4, 8, 16]),
        "depth": trial.suggest_int("depth", 1, 3),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64, 128]),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.3),
    }


def train_trial(trial, data: Data, epochs: int) -> tuple[float, int]:
    """(best validation accuracy, epochs trained); TrialPruned when the pruner says so."""
    import optuna
    import torch

    params = suggest(trial)
    torch.manual_seed(trial.number)
    model = make_model(params["width"], params["depth"], len(SHAPES))
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=params["learning_rate"],
        momentum=params["momentum"],
        weight_decay=params["weight_decay"],
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=params["label_smoothing"])
    best = 0.0
    for epoch in range(1, epochs + 1):
        train_epoch(model, optimizer, loss_fn, data, params["batch_size"])
        best = max(best, accuracy(model, data))
        trial.set_user_attr("epochs", epoch)
        trial.set_user_attr("best", best)
        trial.report(best, step=epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return best, epochs


def train_epoch(model, optimizer, loss_fn, data: Data, batch_size: int) -> None:
    import torch

    model.train()
    order = torch.randperm(len(data.y_train))
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(data.x_train[index]), data.y_train[index])
        if not torch.isfinite(loss):
            return  # diverged: its accuracy says so
        loss.backward()
        optimizer.step()


def accuracy(model, data: Data) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        predicted = model(data.x_valid).argmax(dim=1)
    return float((predicted == data.y_valid).float().mean())


# ---- one search ---------------------------------------------------------------------------


def make_study(method: str, seed: int, epochs: int):
    import optuna

    from automl.engine.sweep.pruners import FidelityPruner

    if method == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_STARTUP_TRIALS)
    pruner = optuna.pruners.NopPruner()
    if method == "tpe+pruning":
        pruner = FidelityPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    name = f"{method}-{seed}"  # Hyperband's brackets hash the study name
    return optuna.create_study(
        study_name=name, direction="maximize", sampler=sampler, pruner=pruner
    )


def run_search(method: str, seed: int, args: argparse.Namespace, data: Data) -> dict:
    """Trials, epochs and seconds until a trial reaches the target (or the trial budget)."""
    study = make_study(method, seed, args.epochs)
    started, epochs = time.perf_counter(), 0
    for number in range(1, args.max_trials + 1):
        trial = study.ask()
        state, value = run_one(study, trial, data, args.epochs)
        study.tell(trial, value if state == "complete" else None, state=state_of(state))
        frozen = study.trials[-1]
        epochs += int(frozen.user_attrs.get("epochs", 0))
        if float(frozen.user_attrs.get("best", 0.0)) >= args.target:
            return result(number, epochs, time.perf_counter() - started, True)
    return result(args.max_trials + 1, epochs, time.perf_counter() - started, False)


def run_one(study, trial, data: Data, epochs: int) -> tuple[str, float | None]:
    import optuna

    try:
        value, _ = train_trial(trial, data, epochs)
    except optuna.TrialPruned:
        return "pruned", None
    return "complete", value


def state_of(state: str):
    from optuna.trial import TrialState

    return TrialState.COMPLETE if state == "complete" else TrialState.PRUNED


def result(trials: int, epochs: int, seconds: float, reached: bool) -> dict:
    return {"trials": trials, "epochs": epochs, "seconds": seconds, "reached": reached}


# ---- the table ----------------------------------------------------------------------------


def summarize(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """Per method: median trials, epochs and seconds over seeds, and how many reached it."""
    return {
        method: {
            "trials": statistics.median(r["trials"] for r in results),
            "epochs": statistics.median(r["epochs"] for r in results),
            "seconds": statistics.median(r["seconds"] for r in results),
            "reached": sum(r["reached"] for r in results),
            "n": len(results),
        }
        for method, results in runs.items()
    }


def format_table(summary: dict[str, dict], args: argparse.Namespace) -> str:
    lines = [
        f"target accuracy {args.target:g}, {args.size} px shapes, {args.n_train} training "
        f"images, up to {args.max_trials} trials x {args.epochs} epochs, median over "
        f"{args.seeds} seed(s)",
        "| method | trials to target | epochs trained | seconds | reached |",
        "|---|---|---|---|---|",
    ]
    for method, row in summary.items():
        censored = ">" if row["trials"] > args.max_trials else ""
        lines.append(
            f"| {method} | {censored}{row['trials']:g} | {row['epochs']:g} | "
            f"{row['seconds']:.1f} | {row['reached']}/{row['n']} |"
        )
    lines.extend(ratio_lines(summary))
    return "\n".join(lines)


def ratio_lines(summary: dict[str, dict]) -> list[str]:
    if "random" not in summary or "tpe+pruning" not in summary:
        return []
    base, pruned = summary["random"], summary["tpe+pruning"]
    return [
        f"ratio tpe+pruning / random: trials {ratio(pruned['trials'], base['trials'])}, "
        f"epochs {ratio(pruned['epochs'], base['epochs'])}, "
        f"seconds {ratio(pruned['seconds'], base['seconds'])} (goal: trials <= 0.5)"
    ]


def ratio(numerator: float, denominator: float) -> str:
    return "-" if not denominator else f"{numerator / denominator:.2f}"


def main(argv: list[str] | None = None) -> int:
    import optuna
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = make_data(args)
    runs: dict[str, list[dict]] = {method: [] for method in args.methods}
    for seed in range(args.seeds):
        for method in args.methods:
            found = run_search(method, seed, args, data)
            runs[method].append(found)
            logging.info("seed %d %-12s %s", seed, method, found)
    print(format_table(summarize(runs), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
