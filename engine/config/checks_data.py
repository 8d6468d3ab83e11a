"""Rules on the job's data paths: local, and (the data stage's first check) existing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from automl.engine.config.context import CheckContext
from automl.engine.config.issues import Issue
from automl.engine.utils.quoting import quote

REMOTE_PREFIXES = (
    "azureml:",
    "azureml://",
    "https://",
    "http://",
    "wasbs://",
    "abfss://",
    "adl://",
    "s3://",
    "gs://",
)
DATA_KEYS = ("training_data", "validation_data", "test_data")


def check_data_paths_local(ctx: CheckContext) -> Iterator[Issue]:
    for key in DATA_KEYS:
        path = (ctx.data.get(key) or {}).get("path")
        if isinstance(path, str) and path.lower().startswith(REMOTE_PREFIXES):
            yield Issue(
                (key, "path"),
                f"{quote(path)} is a cloud location; automl-vision runs "
                "locally: download the data and point path at a local MLTable folder "
                "or JSONL file",
            )


def check_data_paths_exist(ctx: CheckContext) -> Iterator[Issue]:
    """The data stage's first check (not in `CHECKS`: `load_job(check_paths=False)`,
    `job validate --skip-data` and `job render` skip it)."""
    for key in ("training_data", "validation_data"):
        path = (ctx.data.get(key) or {}).get("path")
        if not isinstance(path, str) or path.lower().startswith(REMOTE_PREFIXES):
            continue
        absolute = resolve_data_path(path, ctx.job_dir)
        if not absolute.exists():
            yield Issue(
                (key, "path"),
                f"{quote(path)} does not exist (resolved to {absolute}, "
                "relative to the job file's folder); point path at a local MLTable "
                "folder or JSONL file",
            )


def resolve_data_path(path: str, job_dir: Path) -> Path:
    """A data path made absolute against the job file's folder, as the Azure CLI does."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = job_dir / candidate
    return Path(os.path.normpath(candidate))
