"""What every command shares: output format, logging set-up, JSON on stdout."""

from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from typing import Any

import typer

LOGGER_NAME = "automl"


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


OUTPUT_OPTION = typer.Option(
    OutputFormat.text, "--output", "-o", help="text for people, json for scripts (stdout)."
)
SET_OPTION = typer.Option(
    None,
    "--set",
    help="Override a job key, as az ml job create --set does: --set limits.max_trials=4 "
    "(repeatable; the value is parsed as YAML).",
)


class _State:
    debug: bool = False


state = _State()


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


class _CurrentStderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever `sys.stderr` is when a record is emitted.

    `automl` can run in-process (tests, notebooks, `cli.main.run`) where stderr is swapped
    and later closed; binding the stream at configure time would then log into a dead file.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # the base class assigns it; always follow sys.stderr
        pass


def configure_logging(debug: bool) -> None:
    """Send the `automl` logger to stderr: rich when stderr is a terminal, plain otherwise."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    if stderr_is_tty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=err_console(), show_time=False, show_path=False, markup=False
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)


_err_console = None


def err_console():
    """The one rich console on stderr (logs, progress, tables), shared so live displays and
    log lines do not overwrite each other."""
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False)
    return _err_console


def out_console():
    """A rich console on stdout (text results)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Write `data` as JSON to stdout, for `--output json`."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
