"""What a finished trial's process means: its `TrialResult` as the job records it, and what
a job's outcomes so far mean for the job (a failure streak, its final status).

The trial's own result.json is the start; the controller's view overrides it where the
controller knows better: a trial it stopped (pruned, timed out, canceled) gets that state,
a trial that exited without a result (killed, crashed) is failed with the reason, and the
duration is the controller's wall time of the trial. A trial stopped because the job's
`timeout_minutes` ran out counts as complete when it evaluated at least one epoch: its best
epoch's package (outputs/, written at every new best) is its model (`budget_outcome`).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from automl.engine.sweep.launch import RunningTrial
from automl.engine.trials import (
    CANCELED,
    COMPLETE,
    FAILED,
    PRUNED,
    SCORED_STATES,
    STOPPED_BY_BUDGET,
    TrialResult,
)
from automl.engine.trials.result import read_result_or_error

logger = logging.getLogger("automl.sweep")

FAILURE_STREAK = 3
LOG_TAIL_LINES = 20
NO_SCORE = "the trial finished without a score"


def judge_trial(
    running: RunningTrial, returncode: int, best_reported: Callable[[], float | None]
) -> TrialResult:
    """The outcome to record for a trial whose process ended with `returncode`;
    `best_reported()`: its best score reported to the study (for a trial pruned by us)."""
    result, unreadable = read_result_or_error(running.trial_dir)
    base = result or TrialResult(FAILED)
    duration = running.duration_s
    state = running.stop_state
    if running.stopped_by == STOPPED_BY_BUDGET:
        return budget_outcome(running, base, best_reported)
    if state is not None:
        score = best_reported() if state == PRUNED and base.score is None else base.score
        return base.judged(
            state,
            running.stop_error,
            score=score,
            duration_s=duration,
            interrupted=state == CANCELED,
        )
    if returncode == 0 and result is not None and result.is_scored:
        if result.state == COMPLETE and result.score is None:
            return base.judged(FAILED, NO_SCORE, duration_s=duration, interrupted=False)
        return base.judged(result.state, None, duration_s=duration, interrupted=False)
    error = base.error or unreadable or exit_message(returncode, running.trial_dir)
    return base.judged(FAILED, error, duration_s=duration, interrupted=False)


def budget_outcome(
    running: RunningTrial, base: TrialResult, best_reported: Callable[[], float | None]
) -> TrialResult:
    """A trial stopped by the job's budget: complete with its best epoch so far when it
    evaluated one and wrote that epoch's package; canceled (interrupted) otherwise. A
    trial that ended by itself (complete, pruned) before the stop took effect keeps that."""
    duration = running.duration_s
    if base.is_scored and base.score is not None:
        return base.judged(base.state, None, duration_s=duration, interrupted=False)
    score = base.score
    if score is None:
        score = best_reported()
    if score is None:
        score = running.progress.best_score
    if score is None or not (running.trial_dir / "outputs").is_dir():
        error = f"{running.stop_error} before its first evaluated epoch"
        return base.judged(CANCELED, error, duration_s=duration, interrupted=True)
    return base.judged(
        COMPLETE,
        None,
        score=score,
        duration_s=duration,
        interrupted=False,
        stopped_by=STOPPED_BY_BUDGET,
    )


def exit_message(returncode: int, trial_dir: Path) -> str:
    """Why a trial process that left no result ended."""
    log = trial_dir / "trial.log"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        if name == "SIGKILL":  # nothing of ours sends it to a trial that was not stopped
            return (
                "the trial process was killed by SIGKILL, most likely by the system's "
                "out-of-memory killer: lower training_batch_size or max_concurrent_trials "
                f"(the trial's checkpoint, if any, is kept); see {log}"
            )
        return f"the trial process was killed by {name}; see {log}"
    return f"the trial process exited with code {returncode} without a result; see {log}"


def failure_streak_error(rows: list[dict], max_trials: int) -> str | None:
    """Why to stop when the first trials all failed with the same error (the rest would
    too); None while that is not so."""
    done = [r for r in rows if r["state"] not in ("running", CANCELED)]
    if any(r["state"] in SCORED_STATES for r in done):
        return None
    streak = min(FAILURE_STREAK, max_trials)
    errors = {error_signature(r["error"]) for r in done[:streak] if r["state"] == FAILED}
    if len(done) < streak or len(errors) != 1:
        return None
    error = errors.pop()
    if streak == 1:
        return f"its trial failed: {error}"
    return f"the first {streak} trials all failed with the same error: {error}"


def final_status(rows: list[dict], stop_reason: tuple[str, str] | None) -> tuple[str, str | None]:
    """(the job's status, its error) from its trials and why it stopped, if it was."""
    kind, message = stop_reason or (None, None)
    if kind == "canceled":
        return "canceled", message
    if any(r["state"] in SCORED_STATES for r in rows):
        return "completed", None  # a budget that ran out is a result (summary: ended_by)
    if kind == "timeout":
        return "failed", (
            f"{message} before any trial evaluated an epoch, so there is no model: raise "
            "limits.timeout_minutes in the job file"
        )
    if kind is not None:
        return "failed", message
    errors = [r["error"] for r in rows if r["error"]]
    last = f"; the last error: {errors[-1]}" if errors else ""
    return "failed", f"every trial failed{last}"


def ended_by(stop_reason: tuple[str, str] | None) -> str:
    """summary.json's `ended_by`: timeout (limits.timeout_minutes), canceled, failed (a
    failure streak, a lost study), or trials (every planned trial ran)."""
    return stop_reason[0] if stop_reason is not None else "trials"


def finished_note(ended: str, status: str, best: dict) -> str:
    """What the job's last log line adds: that the budget ended it, and what it kept."""
    if ended != "timeout" or status != "completed":
        return ""
    return (
        f": limits.timeout_minutes ended it; the best model so far (trial {best.get('number')}, "
        f"score {_fmt(best.get('score'))}) is kept"
    )


def log_finished(number: int, params: dict, result: TrialResult, best: dict, metric: str) -> None:
    """One line per finished trial, as Optuna's ("trial 7 finished: accuracy 0.913 with
    {...}; best is trial 5 (0.921)")."""
    best_text = f"best is trial {best['number']} ({best['score']:.4g})" if best else "no best yet"
    if result.state == COMPLETE:
        logger.info(
            "trial %d finished%s: %s %.4g with %s; %s",
            number,
            _budget_note(result),
            metric,
            result.score,
            params,
            best_text,
        )
    elif result.state == PRUNED:
        logger.info(
            "trial %d pruned at epoch %s: %s %s with %s; %s",
            number,
            result.epochs_completed,
            metric,
            _fmt(result.score),
            params,
            best_text,
        )
    else:
        # the error may end in hint lines: the best comes first so it never trails them
        logger.warning("trial %d %s (%s): %s", number, result.state, best_text, result.error)


def _budget_note(result: TrialResult) -> str:
    if result.stopped_by != STOPPED_BY_BUDGET:
        return ""
    return (
        f" (stopped by the job's timeout after {result.epochs_completed} epoch(s); its best "
        f"epoch {_fmt(result.best_epoch)} counts)"
    )


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.4g}"


def error_signature(error: str | None) -> str:
    """The line that names the error: a traceback's last line, an AutomlError's message
    (not its `hint:` line)."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("hint:")] or lines
    return lines[-1] if lines else "unknown error"


def log_tail(path: Path, n_lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a trial's log (its last 8 KiB at most)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-n_lines:])
