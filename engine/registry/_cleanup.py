"""Crash-safe registry storage: staging folders that name their owner, and the clean-up
that every write to the registry runs under its write lock.

A `model register` copies the package into `packages/.staging.<host>.<pid>.<random>`
(never into its final name), and only under the write lock renames it to
`packages/<sha256>` and records the version in the same transaction. A process killed at
any point leaves either a staging folder whose owner is gone or a package no version
references; the next write (register, label, delete) removes both.

Unreferenced packages are removed only by the registry.db that stored them: the database
holds an id that `packages/.registry-id` repeats. A fresh registry.db next to packages it
never knew (the old one lost or moved aside) leaves them alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("automl.registry")

STAGING_PREFIX = ".staging."
MARKER_FILE = ".registry-id"
DIGEST_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_STAGING_PATTERN = re.compile(r"^\.staging\.(?P<host>[0-9a-f]{8})\.(?P<pid>\d+)\.")
# A staging folder of a live process is kept this long (a copy of the largest package
# takes minutes); after that its PID is taken to be reused by another process.
STAGING_MAX_AGE_S = 24 * 3600.0
# Hidden folders without an owner (written by earlier versions, which named them
# `.<digest prefix>.<random>`) are removed once they are this old.
UNOWNED_MAX_AGE_S = 600.0


def host_tag() -> str:
    """8 hex digits of this host's name: a PID is only checked on the host that owns it."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def new_staging_folder(packages_dir: Path) -> Path:
    """An empty staging folder under `packages_dir` that names this process."""
    packages_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{STAGING_PREFIX}{host_tag()}.{os.getpid()}."
    return Path(tempfile.mkdtemp(prefix=prefix, dir=packages_dir))


def is_digest(name: str) -> bool:
    return bool(DIGEST_PATTERN.match(name))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def staging_is_stale(path: Path, now: float) -> bool:
    """True when no live process can still be writing `path`."""
    try:
        age = now - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    match = _STAGING_PATTERN.match(path.name)
    if match is None:
        return age > UNOWNED_MAX_AGE_S
    if age > STAGING_MAX_AGE_S:
        return True
    return match["host"] == host_tag() and not pid_alive(int(match["pid"]))


def remove_folder(packages_dir: Path, path: Path) -> None:
    """Rename `path` to a staging name of this process, then delete it: a kill during the
    delete leaves a folder the next clean-up recognises as stale."""
    doomed = new_staging_folder(packages_dir)
    try:
        os.replace(path, doomed)
    except OSError:
        shutil.rmtree(doomed, ignore_errors=True)
        return
    shutil.rmtree(doomed, ignore_errors=True)


def clean_packages_dir(packages_dir: Path, referenced: set[str] | None) -> list[str]:
    """Remove stale staging folders and (unless `referenced` is None) packages no version
    references; return their names. Call it holding the registry's write lock (no register
    can be between its rename and its commit then)."""
    if not packages_dir.is_dir():
        return []
    removed = []
    now = time.time()
    for entry in sorted(os.scandir(packages_dir), key=lambda e: e.name):
        path = Path(entry.path)
        if entry.name.startswith("."):
            stale = entry.is_dir(follow_symlinks=False) and staging_is_stale(path, now)
        else:
            stale = referenced is not None and is_digest(entry.name)
            stale = stale and entry.name not in referenced
        if stale:
            remove_folder(packages_dir, path)
            removed.append(entry.name)
    if removed:
        logger.info("registry: removed %d unused or interrupted package folder(s)", len(removed))
    return removed


def owns_packages(packages_dir: Path, registry_id: str, n_versions: int) -> bool:
    """True when `packages_dir` belongs to the database of `registry_id`: its marker says
    so, or it has none and either the database has versions (a registry from before the
    marker) or there are no packages yet; the marker is then written."""
    marker = packages_dir / MARKER_FILE
    if marker.is_file() and not marker.is_symlink():
        with open(marker, encoding="utf-8") as handle:
            owner = handle.read(200).strip()
        if owner != registry_id:
            logger.warning(
                "registry: %s belongs to another registry.db; packages no version references "
                "are kept (remove %s to let this registry delete them)",
                packages_dir,
                marker,
            )
        return owner == registry_id
    has_packages = packages_dir.is_dir() and any(is_digest(n) for n in os.listdir(packages_dir))
    if n_versions == 0 and has_packages:
        logger.warning("registry: a new registry.db beside existing packages: they are kept")
        return False
    from automl.engine.utils.files import write_text_atomic

    write_text_atomic(marker, registry_id + "\n")
    return True
