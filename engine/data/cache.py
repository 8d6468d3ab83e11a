"""A content-addressed, size-bounded on-disk cache of remote images, shared between runs.

Layout under the cache folder (default `$AUTOML_HOME/cache/images`):

    blobs/ab/<sha256>      image bytes, named by their SHA-256 (identical images stored once)
    urls/cd/<key>.json     {"sha256", "size", "url" (redacted)}; key = SHA-256 of the full URL
    partial/<key>.part     an interrupted download, resumed by the next fetch of that URL
    config.json            {"max_bytes": N}: the bound, recorded by the job that prepared data
    lock                   held (flock) while evicting

Safety between concurrent trials and jobs: a blob appears only by an atomic rename after
its checksum is computed, so nothing half-written or corrupt is ever visible; a download
of one URL is serialised by a lock on its partial file; reads verify the checksum and drop
a bad blob. Eviction is least-recently-used (a read touches the blob's mtime) and runs
under the cache lock; a reader whose blob was just evicted simply fetches it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from automl.engine.data.remote import RetryPolicy, download, redact_url
from automl.engine.utils.files import write_json_atomic

logger = logging.getLogger("automl.data.cache")

CONFIG_FILE = "config.json"
EVICT_TO = 0.9  # evict down to this share of the bound, so eviction does not run per image


@dataclass
class CacheEntry:
    """A cached image: its blob path, size and checksum."""

    path: Path
    size: int
    sha256: str


def url_key(url: str) -> str:
    """The index key of a URL (its SHA-256: the URL itself may hold secrets)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """`$AUTOML_HOME/cache/images` (AUTOML_HOME defaults to ~/.automl)."""
    home = os.environ.get("AUTOML_HOME") or os.path.join(os.path.expanduser("~"), ".automl")
    return Path(home) / "cache" / "images"


class ImageCache:
    """The on-disk image cache (see the module docstring); safe across processes."""

    def __init__(self, root: str | os.PathLike, max_bytes: int | None = None) -> None:
        self.root = Path(root)  # folders are made on the first write, not for local-only jobs
        self._max_bytes = max_bytes
        self._used_estimate: int | None = None
        # url -> entry seen by this process: a warm read skips the index file. A blob
        # evicted by another process since is noticed when reading it fails.
        self._known: dict[str, CacheEntry] = {}

    @property
    def max_bytes(self) -> int | None:
        """The bound: given to the constructor, else the one recorded in config.json."""
        if self._max_bytes is not None:
            return self._max_bytes
        try:
            return int(json.loads((self.root / CONFIG_FILE).read_text())["max_bytes"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def record_limit(self, max_bytes: int) -> None:
        """Record the bound in config.json, for the trials that open this cache later."""
        write_json_atomic(self.root / CONFIG_FILE, {"max_bytes": int(max_bytes)})
        self._max_bytes = int(max_bytes)

    def lookup(self, url: str) -> CacheEntry | None:
        """The cached entry of `url`, or None (a miss, or a blob already evicted)."""
        known = self._known.get(url)
        if known is not None:
            return known
        try:
            index = json.loads(self._index_path(url).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        path = self._blob_path(index["sha256"])
        if not path.is_file():
            return None
        entry = self._known[url] = CacheEntry(path, int(index["size"]), index["sha256"])
        return entry

    def read(self, url: str) -> bytes | None:
        """The bytes of `url` if cached and intact (checksum verified), else None."""
        entry = self.lookup(url)
        if entry is None:
            return None
        try:
            data = entry.path.read_bytes()
        except FileNotFoundError:  # evicted since it was looked up
            self._known.pop(url, None)
            return None
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            self._known.pop(url, None)
            logger.warning("cache: %s failed its checksum; fetching it again", redact_url(url))
            entry.path.unlink(missing_ok=True)
            return None
        _touch(entry.path)
        return data

    def fetch(self, url: str, policy: RetryPolicy) -> CacheEntry:
        """The entry of `url`, downloading it first on a miss (resuming a partial download)."""
        entry = self.lookup(url)
        if entry is not None:
            _touch(entry.path)
            return entry
        with self._download_lock(url):
            entry = self.lookup(url)  # another process may have fetched it meanwhile
            if entry is None:
                entry = self._download(url, policy)
        self._after_put(entry.size)
        return entry

    def _download(self, url: str, policy: RetryPolicy) -> CacheEntry:
        partial = self._partial_path(url)
        download(url, partial, policy, limit_name="image_file_bytes")
        digest, size = _sha256_file(partial)
        blob = self._blob_path(digest)
        blob.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, blob)  # atomic: the blob is whole or absent
        index = {"sha256": digest, "size": size, "url": redact_url(url)}
        _write_index(self._index_path(url), index)
        entry = self._known[url] = CacheEntry(blob, size, digest)
        return entry

    @contextlib.contextmanager
    def _download_lock(self, url: str) -> Iterator[None]:
        lock_path = self._partial_path(url).with_suffix(".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
                # Done: a process still waiting re-checks the index and finds the blob.
                lock_path.unlink(missing_ok=True)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def usage(self) -> int:
        """Bytes held in blobs (a walk of the folder)."""
        return sum(size for _, size, _ in self._blobs())

    def evict(self, target_bytes: int | None = None) -> int:
        """Delete least-recently-used blobs until at most `target_bytes` remain.

        Returns the number of bytes freed. Runs under the cache lock.
        """
        limit = self.max_bytes if target_bytes is None else target_bytes
        if limit is None:
            return 0
        with self._cache_lock():
            blobs = sorted(self._blobs(), key=lambda blob: blob[2])
            used = sum(size for _, size, _ in blobs)
            freed = 0
            for path, size, _ in blobs:
                if used - freed <= limit:
                    break
                path.unlink(missing_ok=True)
                freed += size
            self._used_estimate = used - freed
        # list(): read-ahead threads of this process add entries meanwhile.
        for url, entry in list(self._known.items()):
            if not entry.path.exists():
                self._known.pop(url, None)
        if freed:
            logger.debug("cache: evicted %d bytes (bound %d)", freed, limit)
        return freed

    def _after_put(self, size: int) -> None:
        limit = self.max_bytes
        if limit is None:
            return
        if self._used_estimate is None:
            self._used_estimate = self.usage()
        else:
            self._used_estimate += size
        if self._used_estimate > limit:
            self.evict(int(limit * EVICT_TO))

    @contextlib.contextmanager
    def _cache_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _blobs(self) -> Iterator[tuple[Path, int, float]]:
        blobs = self.root / "blobs"
        for folder in blobs.iterdir() if blobs.is_dir() else ():
            for path in folder.iterdir() if folder.is_dir() else ():
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                yield path, stat.st_size, stat.st_mtime

    def _blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest

    def _index_path(self, url: str) -> Path:
        key = url_key(url)
        return self.root / "urls" / key[:2] / f"{key}.json"

    def _partial_path(self, url: str) -> Path:
        return self.root / "partial" / f"{url_key(url)}.part"


def _sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _write_index(path: Path, index: dict) -> None:
    # Atomic (rename) but not fsynced: a power cut can only leave an unreadable index,
    # which reads as a miss, and blobs are checked against their checksum anyway.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(index), encoding="utf-8")
    os.replace(tmp, path)


def _touch(path: Path) -> None:
    # mtime is the LRU clock (atime is often disabled by noatime mounts).
    with contextlib.suppress(FileNotFoundError):
        os.utime(path)


def free_disk_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the disk that holds `folder` (or its nearest existing parent)."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free
