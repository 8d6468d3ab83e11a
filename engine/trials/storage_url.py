"""Study storage references without secrets: what run files, logs and summaries may show.

A reference is a journal file path or a database URL ("://"). Credentials come from the URL
or from libpq's own environment (PGUSER, PGPASSWORD, PGHOST, PGPORT, PGDATABASE,
PGPASSFILE), which psycopg reads itself. Only `redact_url(url)` ever reaches a file or a
log; a trial process gets the real URL through the STORAGE_ENV environment variable, set
by the controller that launches it. Light on purpose: no optuna, no sqlalchemy.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit

STORAGE_ENV = "AUTOML_STORAGE_URL"
MASK = "***"
_SECRET_QUERY_KEYS = {"password", "sslpassword", "passfile"}


def is_url(reference: str | None) -> bool:
    """True for a database URL, False for a journal file path (or None)."""
    return bool(reference) and "://" in reference


def redact_url(reference: str | None) -> str | None:
    """The reference with any password (userinfo or query) replaced by ***."""
    if not is_url(reference):
        return reference
    parts = urlsplit(reference)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else netloc
    query = [
        (key, MASK if key.lower() in _SECRET_QUERY_KEYS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    shown = f"{parts.scheme}://{netloc}{parts.path}"  # urlunsplit drops an empty host's //
    return f"{shown}?{urlencode(query, safe='*')}" if query else shown


def sqlalchemy_url(url: str) -> str:
    """postgresql://... -> postgresql+psycopg://... (SQLAlchemy's default driver is
    psycopg2, which we do not install); URLs that name a driver are kept."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def require_storage_driver(url: str | None) -> None:
    """MissingExtraError (one line naming the `postgres` extra) when `url` needs our
    PostgreSQL driver and it is not installed; a URL naming its own driver is its own."""
    from automl.engine.utils.extras import require

    if url and sqlalchemy_url(url).startswith("postgresql+psycopg://"):
        require("psycopg", "postgres", "a PostgreSQL study storage (--storage postgresql://)")


def trial_storage(reference: str) -> str:
    """The storage a trial opens: the real URL from STORAGE_ENV when its spec holds the
    redacted one (same URL once both are redacted), else the spec's reference."""
    real = os.environ.get(STORAGE_ENV)
    if is_url(reference) and real and redact_url(real) == redact_url(reference):
        return real
    return reference


def is_postgresql(reference: str | None) -> bool:
    return is_url(reference) and reference.split("://", 1)[0].split("+")[0] in (
        "postgresql",
        "postgres",
    )
