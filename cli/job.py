"""`automl job ...`: validate, render, create, and follow jobs."""

from __future__ import annotations

import typer

app = typer.Typer(help="Validate, render and run AutoML image jobs.", no_args_is_help=True)
