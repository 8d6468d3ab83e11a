"""`automl schema ...`: the JSON Schema of job files, for editors and tools."""

from __future__ import annotations

import json
import sys

import typer

app = typer.Typer(help="Show the JSON Schema of job files.", no_args_is_help=True)


@app.command("show")
def show_command(
    task: str | None = typer.Option(
        None, "--task", "-t", help="Only this task's schema (default: all four tasks)."
    ),
    path: bool = typer.Option(False, "--path", help="Print the schema file's path instead."),
) -> None:
    """Print the JSON Schema of job files (point your editor's yaml-language-server at it)."""
    from automl import schemas

    if path:
        sys.stdout.write(f"{schemas.schema_file(task)}\n")
        return
    sys.stdout.write(json.dumps(schemas.load_schema(task), indent=2) + "\n")
