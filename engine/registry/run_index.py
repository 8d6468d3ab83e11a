"""The index of runs: job name -> run directory, in `$AUTOML_HOME/runs.db`.

With it a job name works from any folder (`automl job show NAME` from cron, whose current
folder is not the user's; `checkpoint_run_id: NAME` in a job kept elsewhere), and a name is
never given to two runs, whatever their `--run-dir`. SQLite as the model registry uses it
(WAL, busy timeout, every write one `BEGIN IMMEDIATE` transaction): several `job create` at
once never claim the same name. The run directory stays the record; a row whose folder was
deleted is dropped when it is next read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from automl.engine.errors import AutomlError
from automl.engine.registry._store import BUSY_TIMEOUT_S, _enable_wal, automl_home

INDEX_FILE = "runs.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY, run_dir TEXT NOT NULL, experiment TEXT, task TEXT,
    created_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class IndexedRun:
    """One row of the index."""

    name: str
    run_dir: Path
    experiment: str | None
    task: str | None
    created_at: str

    @property
    def exists(self) -> bool:
        """The run directory is still there (it may hold no job.yml yet while created)."""
        return self.run_dir.is_dir()


class RunIndex:
    """The index under `home` (default `$AUTOML_HOME`)."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home) if home is not None else automl_home()
        self.db_path = self.home / INDEX_FILE

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = self._open()
        try:
            yield connection
        finally:
            connection.close()

    def _open(self) -> sqlite3.Connection:
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(connection)
            connection.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise AutomlError(
                f"cannot open the index of runs {self.db_path}: {error}",
                hint="set AUTOML_HOME to a folder this user can write (default ~/.automl)",
            ) from None
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading: check-then-claim is atomic."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def claim(
        self,
        candidates: Iterable[str],
        place: Callable[[str, IndexedRun | None], Path | None],
        *,
        experiment: str | None = None,
        task: str | None = None,
    ) -> tuple[str, Path]:
        """The first candidate name that `place` accepts, recorded with the folder it made.

        `place(name, row)` gets the index row already holding `name` (None when free, or
        when its folder was deleted) and returns the run directory it created, or None to
        try the next candidate; it may raise to refuse (an explicit name that is taken).
        """
        with self.transaction() as db:
            for name in candidates:
                row = _row(db, name)
                if row is not None and not row.exists:
                    _delete(db, name)
                    row = None
                run_dir = place(name, row)
                if run_dir is not None:
                    db.execute(
                        "INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
                        (name, str(run_dir), experiment, task, _now()),
                    )
                    return name, run_dir
        raise RuntimeError("no candidate name was free")  # candidates are unbounded

    def release(self, name: str) -> None:
        """Forget `name` (its run directory could not be created after all)."""
        with self.transaction() as db:
            _delete(db, name)

    def get(self, name: str) -> IndexedRun | None:
        """The run named `name`; None when unknown. A row whose folder is gone is dropped."""
        with self._connect() as db:
            row = _row(db, name)
        if row is not None and not row.exists:
            self._forget_missing([row])
            return None
        return row

    def list(self, experiment: str | None = None) -> list[IndexedRun]:
        """Every indexed run whose folder still exists (others are dropped), oldest first."""
        with self._connect() as db:
            rows = [_from_row(r) for r in db.execute("SELECT * FROM runs ORDER BY created_at")]
        missing = [row for row in rows if not row.exists]
        if missing:
            self._forget_missing(missing)
        return [
            row
            for row in rows
            if row.exists and (experiment is None or row.experiment == experiment)
        ]

    def _forget_missing(self, rows: list[IndexedRun]) -> None:
        with self.transaction() as db:
            for row in rows:
                current = _row(db, row.name)
                if current is not None and not current.exists:  # re-checked under the lock
                    _delete(db, row.name)


def _row(db: sqlite3.Connection, name: str) -> IndexedRun | None:
    found = db.execute("SELECT * FROM runs WHERE name = ?", (name,)).fetchone()
    return None if found is None else _from_row(found)


def _from_row(row: tuple) -> IndexedRun:
    name, run_dir, experiment, task, created_at = row
    return IndexedRun(name, Path(run_dir), experiment, task, created_at)


def _delete(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM runs WHERE name = ?", (name,))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
