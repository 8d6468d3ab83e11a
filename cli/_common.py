"""What every command shares: output format, logging set-up, JSON on stdout."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

import typer

LOGGER_NAME = "automl"


class OutputFormat(str, Enum):
    """What `-o/--output` takes in every command: the format of the result on stdout."""

    text = "text"
    json = "json"
    tsv = "tsv"  # commands that print a table: a header line and tab-separated rows


TEXT_FORMATS = ("text", "json")
TABLE_FORMATS = ("text", "json", "tsv")


def output_option(destination: str | None = None, *, table: bool = False):
    """`-o/--output FORMAT`: the one meaning of `-o` in every command.

    `destination` names the option that takes this command's output path (`--output-file`,
    `--output-dir`): a path given to `-o`, as older versions took, is then a usage error that
    names it instead of a file named after the format. `table`: also accept `tsv`.
    """
    formats = TABLE_FORMATS if table else TEXT_FORMATS
    return typer.Option(
        OutputFormat.text.value,
        "--output",
        "-o",
        metavar="|".join(formats),
        parser=_format_parser(formats, destination),
        help=f"Format of the result on stdout: {', '.join(formats)}"
        + (" (a table: tab-separated when stdout is not a terminal)." if table else "."),
    )


def _format_parser(formats: tuple[str, ...], destination: str | None):
    def parse(value) -> OutputFormat:
        text = value.value if isinstance(value, Enum) else str(value)
        if text.lower() in formats:
            return OutputFormat(text.lower())
        choices = "|".join(formats)
        if destination:  # most likely a path, as -o took in this command before
            raise typer.BadParameter(
                f"'--output' is the output format ({choices}); use {destination} {text}"
            )
        raise typer.BadParameter(f"{text!r} is not an output format ({choices})")

    return parse


OUTPUT_OPTION = output_option()
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


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    output: OutputFormat = OutputFormat.text,
    *,
    title: str | None = None,
) -> None:
    """A table on stdout that never loses a character.

    `text` on a terminal: a rich table whose cells wrap instead of being cut. `text` when
    stdout is not a terminal (pipes, files, cron), and `tsv`: a header line, then one line
    per row, cells separated by tabs (a tab or newline inside a cell becomes a space), so
    `| grep`, `| cut -f1` and `| sort` see whole values. `json`: a list of objects keyed by
    column (commands with a richer JSON record print that instead). None shows as `-`.
    """
    rows = [list(row) for row in rows]
    if output is OutputFormat.json:
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif output is OutputFormat.tsv or not sys.stdout.isatty():
        _print_tsv(columns, rows)
    else:
        _print_rich_table(columns, rows, title)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


_TSV_SEPARATORS = str.maketrans("\t\r\n", "   ")


def _print_tsv(columns: Sequence[str], rows: list[list[Any]]) -> None:
    for line in [list(columns), *rows]:
        cells = (_cell(value).translate(_TSV_SEPARATORS) for value in line)
        sys.stdout.write("\t".join(cells) + "\n")
    sys.stdout.flush()


def _print_rich_table(columns: Sequence[str], rows: list[list[Any]], title: str | None) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:  # Text: a value like "[red]" is shown as is, never read as markup
        table.add_row(*(Text(_cell(value)) for value in row))
    out_console().print(table)
