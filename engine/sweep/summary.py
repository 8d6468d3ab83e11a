"""The job record: summary.json, leaderboard.csv and best_model/ (the sweep charts:
plots.py).

`build_summary` is the one place summary.json's object is built: by the controller after
every change, by `job create` when the job fails before any trial (engine/runs/submit.py),
and from the study alone on any machine (worker.study_summary). Each trial's row comes
from its `TrialResult` (engine/trials/result.py) in one place too, `summary_row`.
Everything is rebuilt from the study (trial outcomes are stored there, see storage.py)
plus what the controller knows about trials still running, and written atomically, so a
reader never sees half a file and a resumed job shows the same history.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from automl.engine.sweep.attrs import CONTINUES_ATTR, OUTCOME_ATTR, PARAMS_ATTR
from automl.engine.trials import COMPLETE, FAILED, PRUNED, RUNNING, TrialResult
from automl.engine.trials.spec import METRIC_GOAL
from automl.engine.utils.files import write_json_atomic, write_text_atomic

logger = logging.getLogger("automl.sweep")

SUMMARY_FILE = "summary.json"
LEADERBOARD_FILE = "leaderboard.csv"
BEST_MODEL_DIR = "best_model"
PLAN_FILE = "plan.json"  # written by `job create` (engine/plan) before the first trial
LEADERBOARD_COLUMNS = ["number", "state", "score", "duration_s"]
NO_OUTCOME = "no outcome recorded (the controller stopped while the trial ran)"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class JobHeader:
    """What summary.json says about the job before its trials; what is not known (a job
    that failed before its plan, a study without the data counts) is left out."""

    name: str | None
    task: str | None
    mode: str | None = None
    primary_metric: str | None = None
    limits: dict | None = None
    data: dict | None = None  # train_images, validation_images, leaked_validation_images
    started_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        header = asdict(self)
        if self.primary_metric is not None:
            header["primary_metric"] = {"name": self.primary_metric, "goal": METRIC_GOAL}
        return {key: value for key, value in header.items() if value is not None}


def build_summary(
    header: JobHeader, rows: list[dict], status: str, *, run_dir: str | Path | None, **extra: Any
) -> dict[str, Any]:
    """summary.json's object: the header, `status`, the best trial, every trial's row,
    `extra` (error, finished_at, storage), the plan against the actual time (when the run
    has a plan.json) and the run directory."""
    summary = {
        **header.to_dict(),
        "status": status,
        "best_trial": best_entry(best_row(rows)),
        "n_trials": len(rows),
        "trials": rows,
        **extra,
    }
    plan = None if run_dir is None else plan_record(Path(run_dir), summary)
    if plan is not None:
        summary["plan"] = plan
    summary["run_dir"] = None if run_dir is None else str(run_dir)
    return summary


def plan_record(run_dir: Path, summary: dict) -> dict | None:
    """Planned against actual: plan.json's wall time (written by `job create`,
    engine/plan) and, once the job finished, its actual wall time (started_at to
    finished_at) and `error_ratio` = actual / planned; None without a plan.json."""
    try:
        plan = json.loads((run_dir / PLAN_FILE).read_text(encoding="utf-8"))
        planned = float(plan["wall_seconds"])
        low, high = (float(x) for x in plan["wall_seconds_range"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    actual = _seconds_between(summary.get("started_at"), summary.get("finished_at"))
    return {
        "wall_seconds": planned,
        "wall_seconds_range": [low, high],
        "actual_wall_seconds": actual,
        "error_ratio": None if actual is None or planned <= 0 else round(actual / planned, 3),
    }


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        elapsed = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except ValueError:
        return None
    return elapsed.total_seconds()


def summary_row(
    number: int, params: dict, result: TrialResult, continues: int | None = None
) -> dict[str, Any]:
    """A trial's row of summary.json (`continues`: the trial it continues, recovery.py)."""
    row = {
        "number": number,
        "state": result.state,
        "params": params,
        "score": result.score,
        "metrics": result.metrics,
        "epochs_completed": result.epochs_completed,
        "duration_s": result.duration_s,
        "error": result.error,
        "best_epoch": result.best_epoch,
    }
    if continues is not None:
        row["continues"] = continues
    if result.stopped_by is not None:  # e.g. "budget": the job's timeout ended it
        row["stopped_by"] = result.stopped_by
    if result.epoch_s is not None:  # seconds an epoch, start-up and finish left out
        row["epoch_s"] = result.epoch_s
    return row


def trial_rows(trials: list, live: dict[int, TrialResult]) -> list[dict]:
    """One summary row per trial of the study (Optuna FrozenTrials); `live`: what the
    controller sees of its running trials. Waiting ones (queued, never started) are left
    out."""
    from optuna.trial import TrialState

    return [
        summary_row(
            trial.number,
            trial.user_attrs.get(PARAMS_ATTR, {}),
            _trial_result(trial, live.get(trial.number)),
            trial.user_attrs.get(CONTINUES_ATTR),
        )
        for trial in trials
        if trial.state != TrialState.WAITING
    ]


def _trial_result(trial, live: TrialResult | None) -> TrialResult:
    """The recorded outcome, else what is known of a trial without one."""
    from optuna.trial import TrialState

    recorded = trial.user_attrs.get(OUTCOME_ATTR)
    if recorded:
        return TrialResult.from_dict(recorded, where=f"the study's record of trial {trial.number}")
    state = {
        TrialState.RUNNING: RUNNING,
        TrialState.COMPLETE: COMPLETE,
        TrialState.PRUNED: PRUNED,
    }.get(trial.state, FAILED)
    if live is not None:
        return TrialResult(
            state,
            score=live.score,
            epochs_completed=live.epochs_completed,
            duration_s=live.duration_s,
        )
    return TrialResult(state, error=NO_OUTCOME if trial.state == TrialState.FAIL else None)


def best_row(rows: list[dict]) -> dict | None:
    """The complete trial with the highest score (ties: the earlier); pruned if none is."""
    for states in ((COMPLETE,), (PRUNED,)):
        scored = [r for r in rows if r["state"] in states and r["score"] is not None]
        if scored:
            return max(scored, key=lambda r: (r["score"], -r["number"]))
    return None


def best_entry(best: dict | None) -> dict | None:
    """summary.json's `best_trial`."""
    if best is None:
        return None
    return {
        "number": best["number"],
        "score": best["score"],
        "params": best["params"],
        "model_dir": f"trials/{best['number']}/outputs",
        **({"stopped_by": best["stopped_by"]} if best.get("stopped_by") else {}),
    }


def write_summary(run_dir: Path, summary: dict) -> None:
    write_json_atomic(Path(run_dir) / SUMMARY_FILE, summary)


class SummaryWriter:
    """Writes the run directory's job record; one instance per controller run."""

    def __init__(self, run_dir: Path, header: JobHeader) -> None:
        self.run_dir = Path(run_dir)
        self.header = header
        self._best_copied: int | None = None

    def write(self, rows: list[dict], status: str, **extra: Any) -> dict:
        """Rewrite summary.json and leaderboard.csv; move best_model/ if the best changed."""
        summary = build_summary(self.header, rows, status, run_dir=self.run_dir, **extra)
        write_summary(self.run_dir, summary)
        write_text_atomic(self.run_dir / LEADERBOARD_FILE, leaderboard_csv(rows))
        best = summary["best_trial"]
        if best is not None and best["number"] != self._best_copied:
            self._copy_best_model(best["number"])
        return summary

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
