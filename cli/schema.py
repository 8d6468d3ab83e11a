"""`automl schema ...`: the JSON Schema of job files, for editors and tools."""

from __future__ import annotations

import typer

app = typer.Typer(help="Show the JSON Schema of job files.", no_args_is_help=True)
