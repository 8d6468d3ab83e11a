"""The job record: summary.json, leaderboard.csv, best_model/ and the sweep plots.

Everything is rebuilt from the study (trial outcomes are stored there, see storage.py)
plus what the controller knows about trials still running, and written atomically, so a
reader never sees half a file and a resumed job shows the same history.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import tempfile
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from automl.engine.metrics.plots import pyplot
from automl.engine.sweep.samplers import PARAMS_ATTR
from automl.engine.sweep.samplers._grid import CONTINUES_ATTR
from automl.engine.sweep.storage import OUTCOME_ATTR
from automl.engine.utils.files import write_json_atomic, write_text_atomic

logger = logging.getLogger("automl.sweep")

SUMMARY_FILE = "summary.json"
LEADERBOARD_FILE = "leaderboard.csv"
BEST_MODEL_DIR = "best_model"
PLOTS_DIR = "plots"
LEADERBOARD_COLUMNS = ["number", "state", "score", "duration_s"]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def trial_rows(trials: list[FrozenTrial], live: dict[int, dict]) -> list[dict]:
    """One summary row per trial (waiting, i.e. queued but never started, ones skipped)."""
    return [_row(t, live.get(t.number)) for t in trials if t.state != TrialState.WAITING]


def _row(trial: FrozenTrial, live: dict | None) -> dict:
    row = {
        "number": trial.number,
        "state": _state(trial),
        "params": trial.user_attrs.get(PARAMS_ATTR, {}),
        "score": None,
        "metrics": {},
        "epochs_completed": 0,
        "duration_s": None,
        "error": None,
    }
    if CONTINUES_ATTR in trial.user_attrs:  # it continues an interrupted trial (recovery.py)
        row["continues"] = trial.user_attrs[CONTINUES_ATTR]
    outcome = trial.user_attrs.get(OUTCOME_ATTR)
    if outcome:
        row.update({key: outcome.get(key) for key in ("score", "duration_s", "error")})
        row["metrics"] = outcome.get("metrics") or {}
        row["epochs_completed"] = outcome.get("epochs_completed") or 0
        row["best_epoch"] = outcome.get("best_epoch")
    elif live:
        row.update({key: live.get(key) for key in ("epochs_completed", "duration_s")})
        row["score"] = live.get("best_score")
    elif trial.state == TrialState.FAIL:
        row["error"] = "no outcome recorded (the controller stopped while the trial ran)"
    return row


def _state(trial: FrozenTrial) -> str:
    outcome = trial.user_attrs.get(OUTCOME_ATTR)
    if outcome:
        return outcome["state"]
    return {TrialState.RUNNING: "running", TrialState.COMPLETE: "complete"}.get(
        trial.state, "pruned" if trial.state == TrialState.PRUNED else "failed"
    )


def best_row(rows: list[dict]) -> dict | None:
    """The complete trial with the highest score (ties: the earlier); pruned if none is."""
    for states in (("complete",), ("pruned",)):
        scored = [r for r in rows if r["state"] in states and r["score"] is not None]
        if scored:
            return max(scored, key=lambda r: (r["score"], -r["number"]))
    return None


class SummaryWriter:
    """Writes the run directory's job record; one instance per controller run."""

    def __init__(self, run_dir: Path, header: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.header = header
        self._best_copied: int | None = None

    def write(self, rows: list[dict], status: str, **extra: Any) -> dict:
        """Rewrite summary.json and leaderboard.csv; move best_model/ if the best changed."""
        best = best_row(rows)
        summary = {
            **self.header,
            "status": status,
            "best_trial": self._best_entry(best),
            "n_trials": len(rows),
            "trials": rows,
            **extra,
            "run_dir": str(self.run_dir),
        }
        write_json_atomic(self.run_dir / SUMMARY_FILE, summary)
        write_text_atomic(self.run_dir / LEADERBOARD_FILE, leaderboard_csv(rows))
        if best is not None and best["number"] != self._best_copied:
            self._copy_best_model(best["number"])
        return summary

    @staticmethod
    def _best_entry(best: dict | None) -> dict | None:
        if best is None:
            return None
        return {
            "number": best["number"],
            "score": best["score"],
            "params": best["params"],
            "model_dir": f"trials/{best['number']}/outputs",
        }

    def _copy_best_model(self, number: int) -> None:
        source = self.run_dir / "trials" / str(number) / "outputs"
        if not source.is_dir():
            logger.warning("trial %d is the best but has no outputs/ to copy", number)
            return
        replace_dir_atomic(source, self.run_dir / BEST_MODEL_DIR)
        self._best_copied = number


def replace_dir_atomic(source: Path, target: Path) -> None:
    """Copy `source` next to `target`, then swap it in with renames (no half-copied dir)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    shutil.copytree(source, staging, dirs_exist_ok=True)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def leaderboard_csv(rows: list[dict]) -> str:
    """One row per trial, best first: number, state, score, duration_s, then each param."""
    param_keys = sorted({key for row in rows for key in row["params"]})
    ranked = sorted(rows, key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["number"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LEADERBOARD_COLUMNS + param_keys)
    for row in ranked:
        fixed = [row["number"], row["state"], _cell(row["score"]), _cell(row["duration_s"])]
        writer.writerow(fixed + [_cell(row["params"].get(key)) for key in param_keys])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


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

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
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
