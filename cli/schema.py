"""`automl schema ...`: the JSON Schema of job files, for editors and tools."""

from __future__ import annotations

import json
import sys

import typer

from automl.cli._common import OUTPUT_OPTION, OutputFormat, print_json

app = typer.Typer(help="Show the JSON Schema of job files.", no_args_is_help=True)


@app.command("show")
def show_command(
    task: str | None = typer.Option(
        None, "--task", "-t", help="Only this task's schema (default: all four tasks)."
    ),
    path: bool = typer.Option(False, "--path", help="Print the schema file's path instead."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Print the JSON Schema of job files (point your editor's yaml-language-server at it).

    The schema is JSON in either output format; with --path, `-o json` prints {"path": ...}.
    """
    from automl import schemas

    if path and output is OutputFormat.json:
        print_json({"path": str(schemas.schema_file(task))})
        return
    if path:
        sys.stdout.write(f"{schemas.schema_file(task)}\n")
        return
    sys.stdout.write(json.dumps(schemas.load_schema(task), indent=2) + "\n")
