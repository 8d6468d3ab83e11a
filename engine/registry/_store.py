"""The embedded model registry: SQLite metadata plus content-addressed package folders.

Layout under `$AUTOML_HOME` (default `~/.automl`):
  registry.db                 SQLite (WAL mode, busy timeout): models, versions, labels
  packages/<sha256>/          one model package per distinct content, shared by versions

Several processes may register at once: package folders are written to a temporary name
and renamed (identical content lands on the same name), and every write to the database is
one `BEGIN IMMEDIATE` transaction, so version numbers are never handed out twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from automl.engine.errors import AutomlError

BUSY_TIMEOUT_S = 60.0
LATEST = "latest"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version TEXT NOT NULL, seq INTEGER NOT NULL, digest TEXT NOT NULL,
    task TEXT, model_name TEXT, description TEXT, tags TEXT NOT NULL, lineage TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS labels (
    name TEXT NOT NULL, label TEXT NOT NULL, version TEXT NOT NULL,
    PRIMARY KEY (name, label));
"""


class ModelRegistryError(AutomlError):
    """A registry operation cannot be done as asked (unknown name, taken version, ...)."""


@dataclass
class ModelVersion:
    """One registered version: where its package lives and where it came from."""

    name: str
    version: str
    digest: str
    path: Path
    task: str | None
    model_name: str | None
    description: str | None
    created_at: str
    tags: dict[str, str] = field(default_factory=dict)
    lineage: dict = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "labels": self.labels,
            "task": self.task,
            "model_name": self.model_name,
            "description": self.description,
            "tags": self.tags,
            "created_at": self.created_at,
            "digest": self.digest,
            "path": str(self.path),
            "lineage": self.lineage,
        }


def automl_home() -> Path:
    """`$AUTOML_HOME`, or ~/.automl."""
    return Path(os.environ.get("AUTOML_HOME") or Path.home() / ".automl").expanduser()


def package_digest(package_dir: Path) -> str:
    """sha256 over the package's files (relative names and contents), order-independent."""
    outer = hashlib.sha256()
    for path in sorted(p for p in package_dir.rglob("*") if p.is_file()):
        outer.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        outer.update(file_sha256(path).encode() + b"\n")
    return outer.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model_name(name: str) -> str:
    if not _NAME_PATTERN.match(name or ""):
        raise ModelRegistryError(
            f"model name {name!r} is not allowed",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    return name


class ModelRegistry:
    """The registry under `home` (default `$AUTOML_HOME`)."""

    def __init__(self, home: str | os.PathLike | None = None) -> None:
        self.home = Path(home) if home is not None else automl_home()
        self.packages_dir = self.home / "packages"
        self.db_path = self.home / "registry.db"

    # ---- database -------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.home.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(connection)
            connection.executescript(_SCHEMA)
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading (BEGIN IMMEDIATE): no lost updates."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    # ---- writes ---------------------------------------------------------------------

    def register(
        self,
        name: str,
        package_dir: str | os.PathLike,
        *,
        version: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        lineage: dict | None = None,
        meta: dict | None = None,
    ) -> ModelVersion:
        """Copy the package into the store and record a new version of `name`."""
        check_model_name(name)
        package_dir = Path(package_dir)
        digest = package_digest(package_dir)
        self._store_package(package_dir, digest)
        meta = meta or {}
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._write() as db:
            self._store_package(package_dir, digest)  # a concurrent delete may have removed it
            version = self._new_version(db, name, version)
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE name = ?", (name,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    version,
                    seq,
                    digest,
                    meta.get("task"),
                    meta.get("model_name"),
                    description,
                    json.dumps(tags or {}),
                    json.dumps(lineage or {}),
                    now,
                ),
            )
        return self.get(name, version)

    def _new_version(self, db: sqlite3.Connection, name: str, version: str | None) -> str:
        if version is None:
            numbers = [
                int(row[0])
                for row in db.execute("SELECT version FROM versions WHERE name = ?", (name,))
                if row[0].isdigit()
            ]
            return str(max(numbers, default=0) + 1)
        if version == LATEST or not _NAME_PATTERN.match(version):
            raise ModelRegistryError(
                f"version {version!r} is not allowed",
                hint="use letters, digits, '.', '_' and '-' ('latest' is automatic)",
            )
        taken = db.execute(
            "SELECT 1 FROM versions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        if taken:
            raise ModelRegistryError(
                f"model {name}:{version} is already registered",
                hint="omit --version to get the next number, or pick another version",
            )
        return version

    def _store_package(self, package_dir: Path, digest: str) -> Path:
        """Copy to packages/<digest>/ through a temporary folder and a rename."""
        target = self.packages_dir / digest
        if target.is_dir():
            return target
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}.", dir=self.packages_dir))
        try:
            shutil.copytree(package_dir, staging, dirs_exist_ok=True)
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # not a concurrent writer of the same content
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def set_label(self, name: str, version: str, label: str) -> ModelVersion:
        """Point `label` of `name` at `version` (moving it if it pointed elsewhere)."""
        if label == LATEST or not _NAME_PATTERN.match(label):
            raise ModelRegistryError(
                f"label {label!r} is not allowed",
                hint="'latest' is automatic; use letters, digits, '.', '_' and '-'",
            )
        with self._write() as db:
            self._row(db, name, version)
            db.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?)", (name, label, version))
        return self.get(name, version)

    def delete(self, name: str, version: str | None = None) -> list[str]:
        """Delete one version (or every version of `name`); returns the deleted refs."""
        with self._write() as db:
            rows = [self._row(db, name, version)] if version else self._rows(db, name)
            for row in rows:
                db.execute(
                    "DELETE FROM versions WHERE name = ? AND version = ?", (name, row["version"])
                )
                db.execute(
                    "DELETE FROM labels WHERE name = ? AND version = ?", (name, row["version"])
                )
            for digest in {row["digest"] for row in rows}:  # while holding the write lock
                used = db.execute("SELECT 1 FROM versions WHERE digest = ?", (digest,))
                if used.fetchone() is None:
                    shutil.rmtree(self.packages_dir / digest, ignore_errors=True)
        return [f"{name}:{row['version']}" for row in rows]

    # ---- reads ----------------------------------------------------------------------

    def get(self, name: str, version: str | None = None, label: str | None = None) -> ModelVersion:
        """A version by number, by label (`latest` is the newest), or the newest."""
        with self._connect() as db:
            if label and label != LATEST:
                found = db.execute(
                    "SELECT version FROM labels WHERE name = ? AND label = ?", (name, label)
                ).fetchone()
                if found is None:
                    known = [
                        r[0] for r in db.execute("SELECT label FROM labels WHERE name = ?", (name,))
                    ]
                    self._rows(db, name)  # unknown model name first
                    raise ModelRegistryError(
                        f"model {name!r} has no label {label!r}",
                        hint="labels: " + ", ".join([LATEST, *sorted(known)]),
                    )
                version = found[0]
            row = self._row(db, name, version)
            return self._version(db, row)

    def list(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of `name`), by name then registration order."""
        with self._connect() as db:
            if name:
                rows = self._rows(db, name)
            else:
                rows = db.execute("SELECT * FROM versions ORDER BY name, seq").fetchall()
            return [self._version(db, row) for row in rows]

    def _rows(self, db: sqlite3.Connection, name: str) -> list[sqlite3.Row]:
        rows = db.execute("SELECT * FROM versions WHERE name = ? ORDER BY seq", (name,)).fetchall()
        if not rows:
            names = [r[0] for r in db.execute("SELECT DISTINCT name FROM versions")]
            raise ModelRegistryError(
                _unknown_name_message(name, names), hint="list them with 'automl model list'"
            )
        return rows

    def _row(self, db: sqlite3.Connection, name: str, version: str | None) -> sqlite3.Row:
        rows = self._rows(db, name)
        if version is None or version == LATEST:
            return rows[-1]
        for row in rows:
            if row["version"] == version:
                return row
        raise ModelRegistryError(
            f"model {name!r} has no version {version!r}",
            hint="versions: " + ", ".join(row["version"] for row in rows),
        )

    def _version(self, db: sqlite3.Connection, row: sqlite3.Row) -> ModelVersion:
        labels = [
            r[0]
            for r in db.execute(
                "SELECT label FROM labels WHERE name = ? AND version = ? ORDER BY label",
                (row["name"], row["version"]),
            )
        ]
        newest = db.execute(
            "SELECT MAX(seq) FROM versions WHERE name = ?", (row["name"],)
        ).fetchone()[0]
        if row["seq"] == newest:
            labels.insert(0, LATEST)
        return ModelVersion(
            name=row["name"],
            version=row["version"],
            digest=row["digest"],
            path=self.packages_dir / row["digest"],
            task=row["task"],
            model_name=row["model_name"],
            description=row["description"],
            created_at=row["created_at"],
            tags=json.loads(row["tags"]),
            lineage=json.loads(row["lineage"]),
            labels=labels,
        )


def _enable_wal(connection: sqlite3.Connection) -> None:
    """WAL lets readers work during a write; switching modes needs a moment without other
    writers, so a busy database is retried briefly."""
    for _ in range(50):
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            time.sleep(0.1)
    connection.execute("PRAGMA journal_mode = WAL")


def _unknown_name_message(name: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    message = f"no registered model named {name!r}"
    if close:
        return message + "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message
