"""How remote image bytes reach a dataset: the per-process `ImageStore` over the shared cache.

Two modes, as Azure's `advanced_settings.stream_image_files` defines them:

- off (default): `prepare_job_data` fetches every remote image into the cache before
  training (parallel, retried, resumable, with progress lines) and the doctor checks
  the cached files; trials then only read the cache.
- on: the data is checked without downloading it (existence only); data-loader workers
  fetch images on demand, a whole batch at a time in parallel (read-ahead), and the
  bounded LRU cache keeps them, so later epochs read from disk.

Each process (the controller, a trial, a data-loader worker) has one store; it is built
lazily from the cache folder and the bound recorded there, or by `configure_image_store`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from automl.engine.data.cache import ImageCache, default_cache_dir, free_disk_bytes
from automl.engine.data.remote import RetryPolicy, exists, redact_url
from automl.engine.data.urls import is_remote
from automl.engine.errors import AutomlError, DataError

logger = logging.getLogger("automl.data.streaming")

DEFAULT_FREE_DISK_SHARE = 0.25  # default bound: a quarter of the free disk at the cache
N_FETCH_WORKERS = 8
PROGRESS_EVERY_S = 2.0
_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?)B?\s*$", re.IGNORECASE)


@dataclass
class FetchReport:
    """What fetching a set of URLs gave: cached paths and per-URL errors (redacted)."""

    paths: dict[str, Path] = field(default_factory=dict)
    errors: dict[str, AutomlError] = field(default_factory=dict)
    n_bytes: int = 0


class ImageStore:
    """Reads remote images through the shared `ImageCache`, fetching misses in parallel."""

    def __init__(self, cache: ImageCache, policy: RetryPolicy | None = None) -> None:
        self.cache = cache
        self.policy = policy or RetryPolicy()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = -1
        self._lock = threading.Lock()

    def read_bytes(self, url: str) -> bytes:
        """The image's bytes: from the cache, or fetched into it first."""
        for _ in range(3):  # a blob evicted between fetch and read is fetched again
            data = self.cache.read(url)
            if data is not None:
                return data
            self.cache.fetch(url, self.policy)
        raise DataError(
            f"{redact_url(url)}: fetched but evicted again before it could be read",
            hint="raise advanced_settings.image_cache_size: the cache is too small for a batch",
        )

    def prefetch(self, urls: Sequence[str]) -> None:
        """Read-ahead: fetch the uncached ones among `urls` in parallel (errors surface on read)."""
        missing = [url for url in dict.fromkeys(urls) if self.cache.lookup(url) is None]
        if len(missing) < 2:
            return
        list(self._executor().map(self._fetch_quietly, missing))

    def fetch_all(
        self, urls: Sequence[str], on_progress: Callable[[int, int, int], None] | None = None
    ) -> FetchReport:
        """Fetch every URL into the cache in parallel; failures are collected, not raised."""
        report = FetchReport()
        unique = list(dict.fromkeys(urls))
        results = self._executor().map(self._fetch_result, unique)
        for done, (url, result) in enumerate(zip(unique, results, strict=True), start=1):
            if isinstance(result, AutomlError):
                report.errors[url] = result
            else:
                report.paths[url] = result.path
                report.n_bytes += result.size
            if on_progress is not None:
                on_progress(done, len(unique), report.n_bytes)
        return report

    def check_exist(self, urls: Sequence[str]) -> dict[str, AutomlError]:
        """Errors for the URLs that are missing or unreachable (no download)."""
        unique = list(dict.fromkeys(urls))
        results = self._executor().map(self._exists_result, unique)
        return {url: error for url, error in zip(unique, results, strict=True) if error is not None}

    def _fetch_result(self, url: str):
        try:
            return self.cache.fetch(url, self.policy)
        except AutomlError as exc:
            return exc

    def _fetch_quietly(self, url: str) -> None:
        self._fetch_result(url)

    def _exists_result(self, url: str) -> AutomlError | None:
        if self.cache.lookup(url) is not None:
            return None
        try:
            found = exists(url, self.policy)
        except AutomlError as exc:
            return exc
        return None if found else DataError(f"{redact_url(url)} does not exist")

    def _executor(self) -> ThreadPoolExecutor:
        # A forked data-loader worker inherits the pool object but not its threads.
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(N_FETCH_WORKERS, thread_name_prefix="fetch")
                self._pool_pid = os.getpid()
            return self._pool


_store: ImageStore | None = None
_configured = False


def configure_image_store(
    cache_dir: str | os.PathLike | None = None,
    max_bytes: int | None = None,
    policy: RetryPolicy | None = None,
) -> ImageStore:
    """Set this process's store (inherited by data-loader workers forked later)."""
    global _store, _configured
    _store = ImageStore(ImageCache(cache_dir or default_cache_dir(), max_bytes), policy)
    _configured = True
    return _store


def get_image_store() -> ImageStore:
    """This process's store: the configured one, else one over the default cache folder
    with the bound recorded there (followed if AUTOML_HOME changes)."""
    global _store
    if _store is None or (not _configured and _store.cache.root != default_cache_dir()):
        _store = ImageStore(ImageCache(default_cache_dir()))
    return _store


def prefetch_remote_images(records: Sequence[dict], indices: Sequence[int]) -> None:
    """Read-ahead for a batch: fetch its uncached remote images in parallel."""
    urls = [records[i]["image_url"] for i in indices]
    remote = [url for url in urls if is_remote(url)]
    if remote:
        get_image_store().prefetch(remote)


def read_image_bytes(url: str) -> bytes:
    """The bytes of a remote image through this process's store."""
    return get_image_store().read_bytes(url)


def parse_cache_size(value: int | str | None, cache_dir: str | os.PathLike) -> int:
    """`image_cache_size` in bytes: an integer, '500MB', '2GiB', '20%' (of free disk), or
    None for the default share of free disk."""
    free = free_disk_bytes(cache_dir)
    if value is None:
        return int(free * DEFAULT_FREE_DISK_SHARE)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        return int(free * float(text[:-1]) / 100)
    match = _SIZE_PATTERN.match(text)
    if match is None:
        raise DataError(
            f"advanced_settings.image_cache_size {value!r} is not a size",
            hint="write bytes (1000000000), a size ('500MB', '2GiB') or a share of free "
            "disk ('20%')",
        )
    number, unit, binary = match.groups()
    factor = 1024 ** "BKMGT".index(unit.upper()) if binary else _UNITS[unit.upper()]
    return int(float(number) * factor)


class ProgressLogger:
    """Progress lines for a long fetch, at most one every PROGRESS_EVERY_S seconds."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._last = time.monotonic()

    def __call__(self, done: int, total: int, n_bytes: int) -> None:
        now = time.monotonic()
        if done == total or now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            logger.info("%s: %d/%d images (%.1f MB)", self.what, done, total, n_bytes / 1e6)
