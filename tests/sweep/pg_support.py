"""A throw-away PostgreSQL server for the storage and worker tests.

`initdb` into a fresh folder, `pg_ctl start` on a free loopback port with password
(scram-sha-256) authentication; as root, the server runs as the `postgres` user (PostgreSQL
refuses to run as root). Binaries: PATH, else Debian's /usr/lib/postgresql/<version>/bin.
Tests skip with the reason when they are absent (CI installs them: .ci/run).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "automl"


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server; `url` carries the password, `url_without_password` does not."""

    bin_dir: Path
    folder: Path
    port: int
    password: str
    as_user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}:{self.password}@127.0.0.1:{self.port}/postgres"

    @property
    def url_without_password(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        data = self.folder / "data"
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_user:
            shutil.chown(self.folder, self.as_user)
            shutil.chown(pwfile, self.as_user)
        self._run(
            "initdb", "-D", str(data), "-U", PG_USER, "--auth=scram-sha-256",
            f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.folder / "server.log"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres() -> PostgresServer | str:
    """A started server, or the reason why none can start (for pytest.skip)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        return "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    as_user = None
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            return "running as root without runuser: cannot start PostgreSQL as non-root"
        as_user = "postgres"
    # Not under pytest's tmp_path: as root that is mode 700, unreachable for `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="automl-pg-"))
    folder.chmod(0o755)
    server = PostgresServer(bin_dir, folder, free_port(), secrets.token_hex(12), as_user)
    try:
        return server.start()
    except (subprocess.CalledProcessError, OSError) as error:
        log = folder / "server.log"
        detail = log.read_text()[-500:] if log.is_file() else getattr(error, "stderr", b"")
        shutil.rmtree(folder, ignore_errors=True)
        return f"PostgreSQL did not start: {error}: {detail!r}"


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the whole session (skips when none can start)."""
    server = start_postgres()
    if isinstance(server, str):
        pytest.skip(server)
    yield server
    server.stop()
