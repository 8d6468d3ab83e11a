"""`automl data ...`: check datasets and convert other annotation formats."""

from __future__ import annotations

import typer

app = typer.Typer(help="Validate datasets and convert annotation formats.", no_args_is_help=True)
