"""Reading objects behind URLs: filesystems, redaction, retries with backoff, resumable downloads.

`http(s)://` is read with the standard library (no aiohttp needed), with `Range` requests
to resume a cut download. Every other scheme goes through fsspec (`s3://`, `gs://`,
`az://`, `abfs://`, `memory://`, ...); the optional extras `automl-vision[s3]`, `[gcs]`
and `[azure]` install the filesystem packages, and a missing one is an error naming it.
Credentials come from each ecosystem's usual environment variables and config files
(fsspec's filesystems read them); URLs are passed through `redact_url` before they reach
a message, a log line or a run file, so signed query strings never leak.
"""

from __future__ import annotations

import logging
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from automl.engine.errors import DataError, LimitError
from automl.schemas import limit, limit_hint

logger = logging.getLogger("automl.data.remote")

HTTP_SCHEMES = ("http", "https")
# fsspec protocol -> our optional extra that installs its filesystem package.
EXTRAS = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "az": ("azure", "adlfs"),
    "abfs": ("azure", "adlfs"),
    "abfss": ("azure", "adlfs"),
    "adl": ("azure", "adlfs"),
}
# Query parameters that carry secrets (Azure SAS, AWS and GCS signed URLs, OAuth).
SECRET_QUERY_KEYS = {
    "sig",
    "signature",
    "token",
    "access_token",
    "code",
    "key",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
}
CHUNK_BYTES = 1 << 20
HTTP_TIMEOUT_S = 30.0
REDACTED = "***"


class RemoteMissingError(DataError):
    """The object does not exist (HTTP 404/410, FileNotFoundError): retrying cannot help."""


class RemoteReadError(DataError):
    """The object could not be read within the retry policy (storage outage, network)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff and jitter, bounded in attempts and in time.

    A transient failure (reset connection, timeout, 5xx, cut response) is retried up to
    `attempts` times while less than `outage_s` seconds have passed since the first try;
    past either bound the read fails with RemoteReadError.
    """

    attempts: int = 8
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0
    outage_s: float = 120.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based), with full jitter."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def redact_url(url: str) -> str:
    """`url` without secrets: a password in the user info and signed query values become ***."""
    parsed = urlparse(url)
    if len(parsed.scheme) <= 1 or parsed.scheme == "file":  # a path (or a drive letter)
        return url
    netloc = parsed.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = parsed.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        cleaned = [(k, REDACTED if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs]
        query = urlencode(cleaned, safe="*")
    return urlunparse(parsed._replace(netloc=netloc, query=query))


def scheme_of(url: str) -> str:
    return urlparse(url).scheme.lower()


def check_filesystem(url: str) -> None:
    """Raise DataError unless `url`'s scheme can be read here (naming the extra to install)."""
    from automl.engine.utils.extras import require

    scheme = scheme_of(url)
    if scheme in HTTP_SCHEMES:
        return
    extra = EXTRAS.get(scheme, ("remote",))[0]  # s3, gcs and azure install fsspec too
    fsspec = require("fsspec", extra, f"reading '{scheme}://' URLs")
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError as exc:
        raise missing_filesystem_error(url, scheme, exc) from None
    except ValueError:
        raise DataError(
            f"cannot open {redact_url(url)!r}: '{scheme}://' is not a known fsspec protocol",
            hint="use a local path, a file:// URI, an http(s) URL, or a URL fsspec understands",
        ) from None


def missing_filesystem_error(url: str, scheme: str, exc: Exception) -> DataError:
    """The error for a known protocol whose filesystem package is not installed."""
    extra, package = EXTRAS.get(scheme, (None, None))
    if extra is not None:
        hint = f"pip install 'automl-vision[{extra}]' (installs {package})"
    else:
        hint = f"install the fsspec filesystem package for '{scheme}://' ({exc})"
    return DataError(
        f"cannot open {redact_url(url)!r}: no filesystem for '{scheme}://' is installed",
        hint=hint,
    )


def download(url: str, partial: Path, policy: RetryPolicy, limit_name: str | None = None) -> int:
    """Download `url` into `partial`, resuming from the bytes already there; return its size.

    Transient failures are retried per `policy`, each retry continuing where the last
    one stopped. Raises RemoteMissingError or RemoteReadError (messages redacted). With
    `limit_name` (a bound of schemas/limits.json) an object larger than the bound is a
    LimitError, raised from its announced size or as soon as that many bytes arrived.
    """
    started, attempt = time.monotonic(), 0
    while True:
        attempt += 1
        try:
            return _download_once(url, partial, _SizeBound(url, limit_name))
        except (FileNotFoundError, RemoteMissingError):
            partial.unlink(missing_ok=True)
            raise RemoteMissingError(f"{redact_url(url)} does not exist") from None
        except LimitError:
            partial.unlink(missing_ok=True)
            raise
        except Exception as exc:  # noqa: BLE001 (every other failure is treated as transient)
            elapsed = time.monotonic() - started
            if attempt >= policy.attempts or elapsed >= policy.outage_s:
                raise _gave_up(url, attempt, elapsed, exc) from None
            logger.debug("retrying %s after %s (attempt %d)", redact_url(url), exc, attempt)
            time.sleep(policy.delay(attempt))


def _gave_up(url: str, attempt: int, elapsed: float, exc: Exception) -> RemoteReadError:
    detail = str(exc).replace(url, redact_url(url)) or type(exc).__name__
    return RemoteReadError(
        f"could not read {redact_url(url)} after {attempt} attempts over {elapsed:.1f} s "
        f"({type(exc).__name__}: {detail})",
        hint="check the network and the storage service; the bound on how long an outage "
        "is waited out is RetryPolicy.outage_s",
    )


class _SizeBound:
    """The bound on one download's size (None: unbounded), and the error past it."""

    def __init__(self, url: str, limit_name: str | None) -> None:
        self.url, self.limit_name = url, limit_name
        self.max_bytes = limit(limit_name) if limit_name else None

    def check(self, n_bytes: int | None) -> None:
        if self.max_bytes is not None and n_bytes is not None and n_bytes > self.max_bytes:
            raise LimitError(
                f"{redact_url(self.url)}: larger than the limit of {self.max_bytes:,} bytes",
                hint=limit_hint(self.limit_name),
            )


def _download_once(url: str, partial: Path, bound: _SizeBound) -> int:
    if scheme_of(url) in HTTP_SCHEMES:
        return _download_http(url, partial, bound)
    return _download_fsspec(url, partial, bound)


def _download_http(url: str, partial: Path, bound: _SizeBound) -> int:
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise RemoteMissingError(f"HTTP {exc.code}") from None
        if exc.code == 416 and offset:  # the partial file already holds everything
            return offset
        raise OSError(f"HTTP {exc.code} {exc.reason}") from None
    with response:
        resumed = response.status == 206
        expected = _expected_size(response, offset if resumed else 0)
        bound.check(expected)
        with open(partial, "ab" if resumed else "wb") as handle:
            _copy(response, handle, bound, offset if resumed else 0)
    size = partial.stat().st_size
    if expected is not None and size != expected:
        raise OSError(f"response cut short: {size} of {expected} bytes")
    return size


def _expected_size(response, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None else None


def _download_fsspec(url: str, partial: Path, bound: _SizeBound) -> int:
    fs, path = filesystem_for(url)
    offset = partial.stat().st_size if partial.exists() else 0
    expected = fs.size(path)
    bound.check(expected)
    if expected is not None and offset > expected:
        offset = 0  # the object changed under us: start again
    with fs.open(path, "rb") as source, open(partial, "ab" if offset else "wb") as handle:
        if offset:
            source.seek(offset)
        _copy(source, handle, bound, offset)
    size = partial.stat().st_size
    if expected is not None and size != expected:
        raise OSError(f"read cut short: {size} of {expected} bytes")
    return size


def _copy(source, handle, bound: _SizeBound, n_bytes: int = 0) -> None:
    while True:
        chunk = source.read(CHUNK_BYTES)
        if not chunk:
            break
        n_bytes += len(chunk)
        bound.check(n_bytes)  # a server may send more than it announced, or announce nothing
        handle.write(chunk)
        handle.flush()  # what arrived survives a cut: the next attempt resumes after it


def filesystem_for(url: str):
    """(fsspec filesystem, path inside it) for a non-HTTP URL; credentials from the
    filesystem's standard sources (environment, config files)."""
    check_filesystem(url)  # fsspec installed, with this scheme's filesystem
    import fsspec

    return fsspec.core.url_to_fs(url)


def exists(url: str, policy: RetryPolicy) -> bool:
    """Whether the object is there (HEAD for HTTP), retried like a download."""
    started, attempt = time.monotonic(), 0
    while True:
        attempt += 1
        try:
            return _exists_once(url)
        except Exception as exc:  # noqa: BLE001 (transient: retried)
            elapsed = time.monotonic() - started
            if attempt >= policy.attempts or elapsed >= policy.outage_s:
                raise _gave_up(url, attempt, elapsed, exc) from None
            time.sleep(policy.delay(attempt))


def _exists_once(url: str) -> bool:
    if scheme_of(url) in HTTP_SCHEMES:
        request = urllib.request.Request(url, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S):
                return True
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return False
            raise OSError(f"HTTP {exc.code} {exc.reason}") from None
    fs, path = filesystem_for(url)
    return bool(fs.exists(path))
