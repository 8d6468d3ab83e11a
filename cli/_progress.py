"""Live progress of a job on stderr, from the controller's events.

On a terminal: a rich table (trial, state, key params, epoch, a bar of the steps done in the
current epoch, loss, primary metric, best so far). Elsewhere (cron, pipes, CI): one plain
line per evaluation; the engine itself logs one line per finished trial. `ScoringProgress`
does the same for the images `model predict` scores.
"""

from __future__ import annotations

import logging
import sys
import time

from automl.cli._common import err_console, stderr_is_tty

logger = logging.getLogger("automl.cli.model")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_params(params: dict | None, limit: int = 4) -> str:
    if not params:
        return "defaults"
    items = [f"{key}={_short(value)}" for key, value in params.items()][:limit]
    more = len(params) - limit
    return ", ".join(items) + (f", +{more}" if more > 0 else "")


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class JobProgress:
    """Callable event sink for `automl.engine.sweep.run_job(on_event=...)`."""

    def __init__(self, metric_name: str = "score", live: bool | None = None) -> None:
        self.metric_name = metric_name
        self.live_enabled = stderr_is_tty() if live is None else live
        self.trials: dict[int, dict] = {}
        self.best: tuple[int, float] | None = None
        self._live = None
        self._last_plain: dict[int, int] = {}

    def __enter__(self) -> JobProgress:
        if self.live_enabled:
            from rich.live import Live

            self._live = Live(
                self._table(), console=err_console(), refresh_per_second=4, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(*exc)
            self._live = None

    def __call__(self, event: dict) -> None:
        handler = getattr(self, f"_on_{event.get('type')}", None)
        if handler is not None:
            handler(event)
        if self._live is not None:
            self._live.update(self._table())

    def _on_job_created(self, event: dict) -> None:
        self.metric_name = event.get("primary_metric") or self.metric_name

    def _on_plan(self, event: dict) -> None:
        plan = event.get("plan")
        if plan and not self.live_enabled:
            sys.stderr.write(f"plan: {len(plan)} configurations, tried in this order:\n")
            for index, entry in enumerate(plan):
                sys.stderr.write(f"  {index}: {format_params(entry, limit=8)}\n")
        elif plan:
            err_console().print(f"[bold]AutoMode plan[/] ({len(plan)} configurations):")
            for index, entry in enumerate(plan):
                err_console().print(f"  {index}: {format_params(entry, limit=8)}")

    def _on_trial_started(self, event: dict) -> None:
        self.trials[event["number"]] = {
            "state": "running",
            "params": event.get("params"),
            "started": time.monotonic(),
        }

    def _on_trial_progress(self, event: dict) -> None:
        trial = self.trials.setdefault(event["number"], {"state": "running", "params": None})
        # the engine's event carries the status fields; keep one list of them (the engine's)
        trial.update({k: v for k, v in event.items() if k not in ("type", "number")})
        if not self.live_enabled:
            self._plain_progress(event)

    def _plain_progress(self, event: dict) -> None:
        evaluated = event.get("evaluated_epoch")
        if evaluated is None or self._last_plain.get(event["number"]) == evaluated:
            return
        self._last_plain[event["number"]] = evaluated
        sys.stderr.write(
            f"trial {event['number']}: epoch {evaluated}/{event.get('n_epochs')}"
            f" loss {_fmt(event.get('train_loss'))} {self.metric_name}"
            f" {_fmt(event.get('last_score'))} eta {format_duration(event.get('eta_s'))}\n"
        )
        sys.stderr.flush()

    def _on_trial_finished(self, event: dict) -> None:
        trial = self.trials.setdefault(event["number"], {"params": event.get("params")})
        trial.update(state=event.get("state"), last_score=event.get("score"), eta_s=None)
        if event.get("best_number") is not None and event.get("best_score") is not None:
            self.best = (event["best_number"], event["best_score"])

    def _table(self):
        from rich.table import Table

        title = (
            f"best: trial {self.best[0]} ({self.metric_name} {self.best[1]:.4f})"
            if (self.best)
            else "best: -"
        )
        table = Table(title=title, title_justify="left", expand=False)
        columns = ("trial", "state", "params", "epoch", "step", "loss", self.metric_name, "eta")
        for column in columns:
            table.add_column(column)
        for number in sorted(self.trials):
            trial = self.trials[number]
            epoch = trial.get("epoch")
            table.add_row(
                str(number),
                str(trial.get("state")),
                format_params(trial.get("params")),
                "-" if epoch is None else f"{epoch}/{trial.get('n_epochs')}",
                step_bar(trial),
                _fmt(trial.get("train_loss")),
                _fmt(trial.get("last_score")),
                format_duration(trial.get("eta_s")),
            )
        return table


STEP_BAR_WIDTH = 16


def step_bar(trial: dict):
    """The steps done in a running trial's current epoch, as a bar and `step/n_steps`: long
    epochs show movement between the per-epoch numbers. Empty once the trial is done."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    n_steps, step = trial.get("n_steps"), trial.get("step") or 0
    if trial.get("state") != "running" or not n_steps:
        return ""
    cell = Table.grid(padding=(0, 1))
    cell.add_row(
        ProgressBar(total=n_steps, completed=step, width=STEP_BAR_WIDTH), f"{step}/{n_steps}"
    )
    return cell


class ScoringProgress:
    """Images scored by `model predict`: a bar on a terminal, a log line per quarter elsewhere."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar = None
        self.next_log = 0.25

    def __enter__(self):
        if stderr_is_tty():
            from rich.progress import Progress

            self.bar = Progress(console=err_console(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("scoring", total=self.total)
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
        elif done / max(total, 1) >= self.next_log:
            logger.info("scored %d/%d images", done, total)
            self.next_log = (int(done / max(total, 1) * 4) + 1) / 4

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
