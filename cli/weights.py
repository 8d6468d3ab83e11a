"""`automl weights ...`: pre-fetch pretrained weights into the libraries' caches."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage pretrained weights.", no_args_is_help=True)
