"""The charts of a job record (plots/): optimization history and hyperparameter importance
(sweeps), drawn from the summary rows and the study when the job ends, under the parameter
names the job file wrote; and a copy of the best trial's charts (plots/best_trial/)."""

from __future__ import annotations

import logging
import re
import shutil
import threading
import warnings
from pathlib import Path

from automl.engine.metrics.plots import pyplot
from automl.engine.sweep.space import SUBSPACE_PARAM

logger = logging.getLogger("automl.sweep")

PLOTS_DIR = "plots"
BEST_TRIAL_PLOTS = "best_trial"
SUBSPACE_SHOWN = "search_space entry"  # which entry of the job's search_space list
_SUBSPACE_PREFIX = re.compile(r"^\d+:")  # "0:learning_rate": the first entry's learning_rate


def prewarm_plotting() -> threading.Thread:
    """Import matplotlib and optuna.importance (which loads scikit-learn and SciPy where
    installed) in the background while trials run: the job's last step, the sweep plots,
    would otherwise wait 0.5-2 s for them. Safe beside the controller's subprocess
    launches: they exec at once, without running Python in the child."""

    def load() -> None:
        try:
            import optuna.importance  # noqa: F401

            pyplot()
        except Exception as error:  # the plots themselves report it, or fall back
            logger.debug("matplotlib preload failed: %s", error)

    thread = threading.Thread(target=load, name="automl-plot-preload", daemon=True)
    thread.start()
    return thread


def write_sweep_plots(run_dir: Path, rows: list[dict], study, metric_name: str) -> list[Path]:
    """plots/optimization_history.png and, with 2+ complete trials, param_importances.png."""
    plots_dir = Path(run_dir) / PLOTS_DIR
    plots_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if any(r["score"] is not None for r in rows):
        written.append(_plot_history(plots_dir / "optimization_history.png", rows, metric_name))
    importances = _importances(study)
    if importances:
        written.append(_plot_importances(plots_dir / "param_importances.png", importances))
    return written


def _plot_history(path: Path, rows: list[dict], metric_name: str) -> Path:
    plt = pyplot()

    figure, axes = plt.subplots(figsize=(7, 4))
    for state, marker in (("complete", "o"), ("pruned", "x")):
        points = [(r["number"], r["score"]) for r in rows if r["state"] == state and r["score"]]
        if points:
            axes.scatter(*zip(*points, strict=True), marker=marker, label=state)
    best, xs, ys = None, [], []
    for row in sorted(rows, key=lambda r: r["number"]):
        if row["state"] == "complete" and row["score"] is not None:
            best = row["score"] if best is None else max(best, row["score"])
        if best is not None:
            xs.append(row["number"])
            ys.append(best)
    axes.step(xs, ys, where="post", color="tab:red", label="best so far")
    axes.set(xlabel="trial", ylabel=metric_name, title="Optimization history")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _importances(study) -> dict[str, float]:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    try:
        with warnings.catch_warnings():  # "few trials per regime": expected in small sweeps
            warnings.simplefilter("ignore", UserWarning)
            # PED-ANOVA: fast, no scikit-learn (fANOVA, the default before Optuna 5, needs it)
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
            return user_named(importances)
    except (RuntimeError, ValueError, ImportError) as error:  # e.g. no parameter varies
        logger.debug("parameter importance skipped: %s", error)
        return {}


def user_param_name(name: str) -> str:
    """The job file's name of a study parameter: `0:learning_rate` (a parameter of one
    entry of a search_space list) is `learning_rate`; `__subspace` is the entry chosen."""
    return SUBSPACE_SHOWN if name == SUBSPACE_PARAM else _SUBSPACE_PREFIX.sub("", name)


def user_named(importances: dict[str, float]) -> dict[str, float]:
    """Importances per job-file parameter name (a name in several entries: their sum),
    highest first."""
    merged: dict[str, float] = {}
    for name, value in importances.items():
        shown = user_param_name(name)
        merged[shown] = merged.get(shown, 0.0) + float(value)
    return dict(sorted(merged.items(), key=lambda item: -item[1]))


def copy_best_trial_plots(run_dir: Path, best_number: int | None) -> Path | None:
    """plots/best_trial/: the best trial's charts, beside the sweep's (replaced if the best
    changed on resume)."""
    if best_number is None:
        return None
    source = Path(run_dir) / "trials" / str(best_number) / PLOTS_DIR
    if not source.is_dir():
        return None
    target = Path(run_dir) / PLOTS_DIR / BEST_TRIAL_PLOTS
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return target


def _plot_importances(path: Path, importances: dict[str, float]) -> Path:
    plt = pyplot()

    names = list(importances)[::-1]
    figure, axes = plt.subplots(figsize=(7, 0.5 * len(names) + 1.5))
    axes.barh(names, [importances[name] for name in names])
    axes.set(xlabel="importance (PED-ANOVA)", title="Hyperparameter importance")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
