"""Root of the `automl` command: global options and the one place user errors are caught."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import traceback
from types import ModuleType

import typer

from automl.cli._common import configure_logging, state

# One typer module per noun; each defines `app`.
NOUNS = ("job", "schema", "data", "model", "weights", "endpoint", "deployment")
HELP_OPTIONS = ["-h", "--help"]

app = typer.Typer(
    name="automl",
    help="Local AutoML for computer vision, driven by Azure-compatible job YAML files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTIONS},
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


def typer_click() -> ModuleType:
    """The click that typer actually runs on: its own copy (`typer._click`) since typer 0.2x,
    the `click` package before. Its exception classes are the ones usage errors raise."""
    import typer.core

    return getattr(typer.core, "_click", None) or typer.core.click


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 error, 2 usage, 130 canceled)."""
    from automl.engine.errors import AutomlError

    click = typer_click()
    try:
        result = app(args=argv, prog_name="automl", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except click.exceptions.ClickException as exc:  # usage errors: bad option, missing argument
        return _show_usage_error(exc, argv)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("canceled\n")
        return 130
    except AutomlError as exc:
        if state.debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    return result if isinstance(result, int) else 0


def _show_usage_error(exc, argv: list[str] | None) -> int:
    """click's own usage message on stderr. A group run without its command has printed its
    help already (typer's no_args_is_help: exit 2, as click >= 8.2 does); nothing to add."""
    if not exc.format_message().strip():
        return exc.exit_code
    usage_error = isinstance(exc, typer_click().exceptions.UsageError)
    if usage_error and exc.ctx is None:  # e.g. an option without its value
        exc.ctx = _usage_context(sys.argv[1:] if argv is None else argv)
    exc.show()
    return exc.exit_code


def _usage_context(argv: list[str]):
    """The context of the deepest command named on the command line, for the errors click
    raises without one: their message then starts with that command's usage line too."""
    click = typer_click()
    command = typer.main.get_command(app)
    ctx = click.Context(command, info_name="automl", help_option_names=HELP_OPTIONS)
    for token in argv:
        if token.startswith("-"):
            continue
        sub = command.get_command(ctx, token) if hasattr(command, "get_command") else None
        if sub is None:
            break
        command, ctx = sub, click.Context(sub, info_name=token, parent=ctx)
    return ctx


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
