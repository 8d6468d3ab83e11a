"""The state of endpoints and their deployments, in `$AUTOML_HOME/endpoints.db`.

SQLite as the model registry and the index of runs use it (WAL, busy timeout, every write
one `BEGIN IMMEDIATE` transaction that reads before it writes), so several commands at once
(`endpoint update` while `deployment create` runs, a router polling) never lose an update.
Each change to an endpoint or to one of its deployments raises the endpoint's
`generation`: a serving router polls that one number and reloads when it moves. A
deployment's `revision` moves when its own file changes (its workers are replaced then).
The database holds the endpoint keys: it is created readable by its owner only.
"""

from __future__ import annotations

import difflib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.registry._store import BUSY_TIMEOUT_S, _enable_wal, automl_home

STATE_FILE = "endpoints.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, primary_key TEXT NOT NULL,
    secondary_key TEXT NOT NULL, traffic TEXT NOT NULL, mirror_traffic TEXT NOT NULL,
    generation INTEGER NOT NULL, server TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deployments (
    endpoint TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL, spec TEXT NOT NULL,
    model_ref TEXT, model_path TEXT NOT NULL, revision INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (endpoint, name));
"""


class EndpointStateError(AutomlError):
    """The endpoint state cannot be read or changed as asked."""


@dataclass(frozen=True)
class DeploymentRecord:
    """One deployment: its checked file (defaults filled) and the model package it serves."""

    endpoint: str
    name: str
    spec: dict
    model_ref: str | None
    model_path: str
    revision: int = 1
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class EndpointRecord:
    """One endpoint, its keys, its traffic and its deployments (in creation order)."""

    name: str
    spec: dict
    primary_key: str
    secondary_key: str
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    generation: int
    server: dict | None
    created_at: str
    updated_at: str
    deployments: tuple[DeploymentRecord, ...] = field(default_factory=tuple)

    @property
    def deployment_names(self) -> list[str]:
        return [deployment.name for deployment in self.deployments]

    def deployment(self, name: str) -> DeploymentRecord | None:
        return next((d for d in self.deployments if d.name == name), None)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class EndpointStore:
    """The endpoint state under `home` (default `$AUTOML_HOME`)."""

    def __init__(self, home: str | os.PathLike | None = None) -> None:
        self.home = Path(home) if home is not None else automl_home()
        self.db_path = self.home / STATE_FILE

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self._create_private()
            connection = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from None
        try:
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(connection)
            connection.executescript(_SCHEMA)
            yield connection
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        finally:
            connection.close()

    def _create_private(self) -> None:
        """The database file, made 0600 before SQLite writes keys into it (SQLite gives its
        -wal and -shm files the same mode)."""
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.db_path.exists():
            os.close(os.open(self.db_path, os.O_CREAT | os.O_WRONLY, 0o600))

    def _error(self, exc: Exception) -> EndpointStateError:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "locked" in text or "busy" in text:
            return EndpointStateError(
                f"{self.db_path}: stayed locked by another process for {BUSY_TIMEOUT_S:.0f} s",
                hint="wait for the other automl command to finish and try again",
            )
        return EndpointStateError(
            f"{self.db_path}: not a usable endpoint database ({text})",
            hint=f"set AUTOML_HOME to a writable folder, or move {self.db_path} aside and "
            "create the endpoints again",
        )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading: check-then-write is atomic."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    # ---- reads ----------------------------------------------------------------------

    def get(self, name: str) -> EndpointRecord:
        with self._connect() as db:
            return self.read(db, name)

    def list(self) -> list[EndpointRecord]:
        with self._connect() as db:
            names = [row[0] for row in db.execute("SELECT name FROM endpoints ORDER BY name")]
            return [self.read(db, name) for name in names]

    def generation(self, name: str) -> int | None:
        """The endpoint's change counter (None once it is deleted): what a router polls."""
        with self._connect() as db:
            row = db.execute("SELECT generation FROM endpoints WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def read(self, db: sqlite3.Connection, name: str) -> EndpointRecord:
        """The endpoint `name` with its deployments; an unknown name lists the closest."""
        row = db.execute("SELECT * FROM endpoints WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise self._unknown(db, name)
        rows = db.execute(
            "SELECT * FROM deployments WHERE endpoint = ? ORDER BY seq", (name,)
        ).fetchall()
        return _endpoint(row, tuple(_deployment(r) for r in rows))

    def exists(self, db: sqlite3.Connection, name: str) -> bool:
        return db.execute("SELECT 1 FROM endpoints WHERE name = ?", (name,)).fetchone() is not None

    def _unknown(self, db: sqlite3.Connection, name: str) -> EndpointStateError:
        names = [row[0] for row in db.execute("SELECT name FROM endpoints")]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        return EndpointStateError(
            f"no endpoint {name!r}{guess} (endpoints: {', '.join(sorted(names)) or 'none'})",
            hint="create one with automl endpoint create --file endpoint.yml",
        )

    # ---- writes (inside `transaction`) ----------------------------------------------

    def insert_endpoint(self, db: sqlite3.Connection, record: EndpointRecord) -> None:
        db.execute(
            "INSERT INTO endpoints VALUES (?, ?, ?, ?, ?, ?, 1, NULL, ?, ?)",
            (
                record.name,
                json.dumps(record.spec),
                record.primary_key,
                record.secondary_key,
                json.dumps(record.traffic),
                json.dumps(record.mirror_traffic),
                now(),
                now(),
            ),
        )

    def update_endpoint(self, db: sqlite3.Connection, name: str, **values) -> None:
        """Set columns of the endpoint (spec, keys, traffic, mirror_traffic) and raise its
        generation."""
        columns = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in values.items()}
        assignments = "".join(f"{column} = ?, " for column in columns)
        db.execute(
            f"UPDATE endpoints SET {assignments}generation = generation + 1, updated_at = ? "
            "WHERE name = ?",
            (*columns.values(), now(), name),
        )

    def set_server(self, db: sqlite3.Connection, name: str, server: dict | None) -> None:
        """Record (or clear) the process serving the endpoint; no reload follows."""
        text = None if server is None else json.dumps(server)
        db.execute("UPDATE endpoints SET server = ? WHERE name = ?", (text, name))

    def put_deployment(self, db: sqlite3.Connection, record: DeploymentRecord) -> None:
        """Insert the deployment, or replace it with its revision raised."""
        old = db.execute(
            "SELECT seq, revision, created_at FROM deployments WHERE endpoint = ? AND name = ?",
            (record.endpoint, record.name),
        ).fetchone()
        seq = old["seq"] if old else self._next_seq(db, record.endpoint)
        db.execute(
            "INSERT OR REPLACE INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.endpoint,
                record.name,
                seq,
                json.dumps(record.spec),
                record.model_ref,
                record.model_path,
                old["revision"] + 1 if old else 1,
                old["created_at"] if old else now(),
                now(),
            ),
        )

    def _next_seq(self, db: sqlite3.Connection, endpoint: str) -> int:
        query = "SELECT COALESCE(MAX(seq), 0) + 1 FROM deployments WHERE endpoint = ?"
        return int(db.execute(query, (endpoint,)).fetchone()[0])

    def delete_deployment(self, db: sqlite3.Connection, endpoint: str, name: str) -> None:
        db.execute("DELETE FROM deployments WHERE endpoint = ? AND name = ?", (endpoint, name))

    def delete_endpoint(self, db: sqlite3.Connection, name: str) -> None:
        db.execute("DELETE FROM deployments WHERE endpoint = ?", (name,))
        db.execute("DELETE FROM endpoints WHERE name = ?", (name,))


def _endpoint(row: sqlite3.Row, deployments: tuple[DeploymentRecord, ...]) -> EndpointRecord:
    return EndpointRecord(
        name=row["name"],
        spec=json.loads(row["spec"]),
        primary_key=row["primary_key"],
        secondary_key=row["secondary_key"],
        traffic=json.loads(row["traffic"]),
        mirror_traffic=json.loads(row["mirror_traffic"]),
        generation=int(row["generation"]),
        server=json.loads(row["server"]) if row["server"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deployments=deployments,
    )


def _deployment(row: sqlite3.Row) -> DeploymentRecord:
    return DeploymentRecord(
        endpoint=row["endpoint"],
        name=row["name"],
        spec=json.loads(row["spec"]),
        model_ref=row["model_ref"],
        model_path=row["model_path"],
        revision=int(row["revision"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
