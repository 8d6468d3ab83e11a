"""`automl model ...`: register, export, serve, score and explain trained models."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Register, export, serve, score and explain trained models.", no_args_is_help=True
)
