"""The live sweep table shows a step-level bar inside long epochs (terminals only)."""

from __future__ import annotations

import io

from rich.console import Console

from automl.cli._progress import JobProgress


def render(progress: JobProgress) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=140, color_system=None).print(progress._table())
    return buffer.getvalue()


def progress_event(number: int, step: int, n_steps: int = 40) -> dict:
    return {"type": "trial_progress", "number": number, "epoch": 2, "n_epochs": 5,
            "step": step, "n_steps": n_steps, "train_loss": 0.5}  # fmt: skip


def test_running_trials_show_the_steps_of_their_epoch():
    progress = JobProgress(live=False)
    progress.live_enabled = True  # the table as a terminal shows it, without a live display
    progress({"type": "trial_started", "number": 0, "params": {"learning_rate": 0.01}})
    progress(progress_event(0, 12))
    table = render(progress)
    assert "step" in table.splitlines()[2] and "12/40" in table and "2/5" in table
    progress({"type": "trial_finished", "number": 0, "state": "complete", "score": 0.9})
    assert "12/40" not in render(progress)  # a finished trial has no bar


def test_without_a_terminal_steps_print_nothing(capsys):
    progress = JobProgress(live=False)
    progress({"type": "trial_started", "number": 0, "params": None})
    for step in range(1, 6):
        progress(progress_event(0, step))
    assert capsys.readouterr().err == ""  # plain output: one line per evaluated epoch only
