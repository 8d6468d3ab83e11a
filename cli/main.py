"""Root of the `automl` command: global options and the one place user errors are caught."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import traceback

import click
import typer

from automl.cli._common import configure_logging, state

# One typer module per noun; each defines `app`.
NOUNS = ("job", "schema", "data", "model", "weights")

app = typer.Typer(
    name="automl",
    help="Local AutoML for computer vision, driven by Azure-compatible job YAML files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for _noun in NOUNS:
    _module = importlib.import_module(f"automl.cli.{_noun}")
    app.add_typer(_module.app, name=_noun)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("automl-vision")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"automl-vision {_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Debug logging, and tracebacks on errors (also AUTOML_DEBUG=1)."
    ),
) -> None:
    state.debug = debug or os.environ.get("AUTOML_DEBUG") == "1"
    configure_logging(state.debug)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 error, 2 usage, 130 canceled)."""
    from automl.engine.errors import AutomlError

    try:
        result = app(args=argv, prog_name="automl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.stderr.write("canceled\n")
        return 130
    except AutomlError as exc:
        if state.debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    return result if isinstance(result, int) else 0


def entry() -> None:
    """Console-script entry point.

    Leaves with os._exit once output is flushed: every file a command writes is complete
    and closed by then, and tearing down torch and its threads costs up to a second per call
    in shell pipelines and cron jobs.
    """
    code = run()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # a reader that left early (`| head`) must not turn success into a traceback
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
