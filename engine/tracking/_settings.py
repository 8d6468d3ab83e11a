"""Which MLflow store a job logs to, and the guard every tracking call runs under."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

logger = logging.getLogger("automl.tracking")

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
LOCAL_STORE = "local"  # --tracking-uri local: the default store under $AUTOML_HOME
INSTALL_HINT = "pip install 'automl-vision[tracking]'"
DEFAULT_EXPERIMENT = "automl"
# MLflow's HTTP client retries 7 times with exponential backoff (minutes against a server
# that is down); bounded here unless the user set them.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}

T = TypeVar("T")


def resolve_tracking_uri(explicit: str | None = None) -> str | None:
    """The store to log to: `explicit` (--tracking-uri), else MLFLOW_TRACKING_URI, else
    None (tracking off); `local` is `default_local_uri()`."""
    uri = (explicit or os.environ.get(TRACKING_URI_ENV) or "").strip()
    if not uri:
        return None
    return default_local_uri() if uri.lower() == LOCAL_STORE else uri


def default_local_uri() -> str:
    """sqlite:///$AUTOML_HOME/mlflow.db (current MLflow refuses a plain file store by
    default; SQLite needs no server)."""
    home = Path(os.environ.get("AUTOML_HOME") or Path.home() / ".automl").expanduser()
    return f"sqlite:///{home.resolve() / 'mlflow.db'}"


def prepare_store(uri: str) -> None:
    """A local SQLite store's folder exists; HTTP retries are bounded (HTTP_DEFAULTS)."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    database = sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment of a SQLite store keeps its artifacts: beside the database
    (`<db folder>/mlartifacts/<experiment>`), not MLflow's default `./mlruns` under
    whatever folder the job was started from. None: the store's own default (a server)."""
    database = sqlite_path(uri)
    return None if database is None else str(database.parent / "mlartifacts" / experiment)


def sqlite_path(uri: str) -> Path | None:
    """The database file of `sqlite:///relative.db` or `sqlite:////absolute.db`."""
    parts = urlsplit(uri)
    if parts.scheme != "sqlite" or len(parts.path) < 2:
        return None
    return Path(parts.path[1:]).resolve()


def experiment_name(job_experiment: str | None) -> str:
    return job_experiment or DEFAULT_EXPERIMENT


def import_mlflow():
    """The mlflow module, or None (with one warning naming the extra) when missing."""
    try:
        import mlflow
    except ImportError:
        logger.warning(
            "MLflow tracking was asked for (--tracking-uri or %s) but mlflow is not "
            "installed: tracking is off; install it with: %s",
            TRACKING_URI_ENV,
            INSTALL_HINT,
        )
        return None
    return mlflow


class TrackingGuard:
    """Runs tracking calls: the first failure warns once and turns tracking off in this
    process, so a server that is down costs one timeout, not one per epoch."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.off = False

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        if self.off:
            return None
        try:
            return function(*args, **kwargs)
        except Exception as error:  # tracking never fails the training
            self.off = True
            first_line = (str(error).strip().splitlines() or [""])[0][:300]
            logger.warning(
                "MLflow tracking of the %s failed (%s: %s): tracking is off for it; "
                "training goes on",
                self.where,
                type(error).__name__,
                first_line,
            )
            return None
