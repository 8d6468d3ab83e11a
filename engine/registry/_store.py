"""The embedded model registry: SQLite metadata plus content-addressed package folders.

Layout under `$AUTOML_HOME` (default `~/.automl`):
  registry.db                 SQLite (WAL mode, busy timeout): models, versions, labels
  packages/<sha256>/          one model package per distinct content, shared by versions

Several processes may register at once: a package is copied to a staging folder that
names its process, hashed there, and renamed to its digest inside the same `BEGIN
IMMEDIATE` transaction that records the version, so version numbers are never handed out
twice and a kill at any point leaves nothing that the next write does not remove
(engine/registry/_cleanup.py). A package holds regular files and folders only, within
the `package_files` and `package_bytes` limits (engine/registry/_files.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.registry._cleanup import (
    clean_packages_dir,
    is_digest,
    new_staging_folder,
    owns_packages,
)
from automl.engine.registry._files import copy_package_tree, package_entries

BUSY_TIMEOUT_S = 60.0
LATEST = "latest"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version TEXT NOT NULL, seq INTEGER NOT NULL, digest TEXT NOT NULL,
    task TEXT, model_name TEXT, description TEXT, tags TEXT NOT NULL, lineage TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS registry_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
    """sha256 over the package's files (relative names and contents), order-independent;
    links and special files are refused (`package_entries`)."""
    outer = hashlib.sha256()
    files = [rel for rel, info in package_entries(Path(package_dir)) if stat.S_ISREG(info.st_mode)]
    for relative in sorted(files, key=lambda rel: rel.as_posix()):
        outer.update(relative.as_posix().encode() + b"\0")
        outer.update(file_sha256(Path(package_dir) / relative).encode() + b"\n")
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
        """A connection; a corrupt, foreign or locked database is a ModelRegistryError."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._database_error(exc) from None
        try:
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(connection)
            connection.executescript(_SCHEMA)
            _ensure_registry_id(connection)
            yield connection
        except sqlite3.Error as exc:
            raise self._database_error(exc) from None
        finally:
            connection.close()

    def _database_error(self, exc: Exception) -> ModelRegistryError:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "locked" in text or "busy" in text:
            return ModelRegistryError(
                f"{self.db_path}: the registry stayed locked by another process for "
                f"{BUSY_TIMEOUT_S:.0f} s ({text})",
                hint="wait for the other automl command to finish and try again",
            )
        return ModelRegistryError(
            f"{self.db_path}: not a usable registry database ({text})",
            hint=f"move it aside (mv {self.db_path} {self.db_path}.bad) and register the "
            f"models again; their packages stay under {self.packages_dir}",
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading (BEGIN IMMEDIATE): no lost updates.
        It first removes what interrupted commands left (engine/registry/_cleanup.py)."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._clean(connection)
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise

    def _clean(self, db: sqlite3.Connection) -> list[str]:
        """Stale staging folders, and the packages no version references when this
        database is the one that stored them (`owns_packages`)."""
        referenced = {row[0] for row in db.execute("SELECT DISTINCT digest FROM versions")}
        owned = owns_packages(self.packages_dir, self._registry_id(db), len(referenced))
        return clean_packages_dir(self.packages_dir, referenced if owned else None)

    def _registry_id(self, db: sqlite3.Connection) -> str:
        return str(db.execute("SELECT value FROM registry_info WHERE key = 'id'").fetchone()[0])

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
        if version is not None:
            check_version_string(version)
        meta = meta or {}
        try:
            staging = new_staging_folder(self.packages_dir)
        except OSError as exc:
            raise ModelRegistryError(
                f"{self.packages_dir}: cannot write the registry ({exc.strerror})",
                hint="set AUTOML_HOME to a writable folder",
            ) from None
        try:
            copy_package_tree(Path(package_dir), staging)
            digest = package_digest(staging)
            with self._write() as db:
                version = self._new_version(db, name, version)
                self._store_staged(staging, digest)
                self._insert_version(db, name, version, digest, meta, tags, description, lineage)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # renamed away unless it was a duplicate
        return self.get(name, version)

    def _store_staged(self, staging: Path, digest: str) -> None:
        """Rename the staged copy to packages/<digest> unless that content is stored."""
        if not (self.packages_dir / digest).is_dir():
            os.rename(staging, self.packages_dir / digest)

    def _insert_version(
        self,
        db: sqlite3.Connection,
        name: str,
        version: str,
        digest: str,
        meta: dict,
        tags: dict[str, str] | None,
        description: str | None,
        lineage: dict | None,
    ) -> None:
        seq = db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE name = ?", (name,)
        ).fetchone()[0]
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
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

    def _new_version(self, db: sqlite3.Connection, name: str, version: str | None) -> str:
        if version is None:
            numbers = [
                int(row[0])
                for row in db.execute("SELECT version FROM versions WHERE name = ?", (name,))
                if row[0].isdigit()
            ]
            return str(max(numbers, default=0) + 1)
        check_version_string(version)
        taken = db.execute(
            "SELECT 1 FROM versions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        if taken:
            raise ModelRegistryError(
                f"model {name}:{version} is already registered",
                hint="omit --version to get the next number, or pick another version",
            )
        return version

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
            self._clean(db)  # the packages no version references any more, under the lock
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
        if not is_digest(str(row["digest"])):  # it becomes a path: never '..' or '/'
            raise ModelRegistryError(
                f"{self.db_path}: {row['name']}:{row['version']} has a malformed package "
                f"digest {str(row['digest'])[:80]!r}",
                hint=f"delete that version (automl model delete {row['name']}:{row['version']})",
            )
        return ModelVersion(
            name=row["name"],
            version=row["version"],
            digest=row["digest"],
            path=self.packages_dir / row["digest"],
            task=row["task"],
            model_name=row["model_name"],
            description=row["description"],
            created_at=row["created_at"],
            tags=_json_or_empty(row["tags"]),
            lineage=_json_or_empty(row["lineage"]),
            labels=labels,
        )


def _ensure_registry_id(connection: sqlite3.Connection) -> None:
    """The database's id (see `owns_packages`), committed on its own (autocommit) so that
    no rolled-back write can lose it; readers only read it."""
    if connection.execute("SELECT 1 FROM registry_info WHERE key = 'id'").fetchone() is None:
        connection.execute(
            "INSERT OR IGNORE INTO registry_info VALUES ('id', ?)", (uuid.uuid4().hex,)
        )


def check_version_string(version: str) -> str:
    if version == LATEST or not _NAME_PATTERN.match(version or ""):
        raise ModelRegistryError(
            f"version {version!r} is not allowed",
            hint="use letters, digits, '.', '_' and '-' ('latest' is automatic)",
        )
    return version


def _json_or_empty(text: str) -> dict:
    """A JSON object column; an unreadable one reads as {} (it is only shown)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


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
