"""The `automl` command line: thin typer modules, one per noun.

Commands parse arguments, call one engine function and report. Heavy libraries (torch,
optuna, ultralytics) are never imported at module level here, so `automl --help` is instant.
"""
