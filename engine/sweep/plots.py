"""The sweep charts of a job record (plots/): optimization history and hyperparameter
importance, drawn from the summary rows and the study when the job ends."""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

from automl.engine.metrics.plots import pyplot

logger = logging.getLogger("automl.sweep")

PLOTS_DIR = "plots"


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
            return optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError, ImportError) as error:  # e.g. no parameter varies
        logger.debug("parameter importance skipped: %s", error)
        return {}


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
