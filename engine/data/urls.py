"""Where an `image_url` or an MLTable path points: a local file, `file://`, or an fsspec URL.

Relative references resolve against the folder of the file that holds them (the MLTable
or JSONL folder), never against the current directory, so jobs run the same from cron.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse


def is_remote(location: str) -> bool:
    """True for a URL other than `file://` (and other than a Windows drive letter)."""
    scheme = urlparse(location).scheme
    return len(scheme) > 1 and scheme != "file"


def file_uri_to_path(uri: str) -> str:
    """`file:///data/a.jpg` -> `/data/a.jpg` (percent-escapes decoded)."""
    parsed = urlparse(uri)
    return unquote(parsed.netloc + parsed.path) if parsed.netloc else unquote(parsed.path)


def resolve_location(reference: str, base_dir: str | os.PathLike) -> str:
    """Resolve `reference` to an absolute local path or a URL fsspec can open.

    Raises DataError when the URL scheme has no installed fsspec filesystem.
    """
    reference = reference.strip()
    if reference.startswith("file:"):
        return str(Path(file_uri_to_path(reference)).absolute())
    if is_remote(reference):
        check_remote_supported(reference)
        return reference
    path = Path(os.path.expanduser(reference))
    if not path.is_absolute():
        path = Path(base_dir) / path
    return os.path.normpath(path)


def check_remote_supported(url: str) -> None:
    """Raise DataError unless a filesystem for the URL's scheme is available.

    http(s) is always available; s3, gs and az/abfs name the extra that installs theirs.
    """
    from automl.engine.data.remote import check_filesystem

    check_filesystem(url)


def read_bytes(location: str) -> bytes:
    """Read a local image file, or a remote one through the shared image cache (retried).

    Both are bounded by the `image_file_bytes` limit; a local path that is not a regular
    file (a folder, a device such as /dev/zero, a FIFO) is refused before reading.
    """
    if is_remote(location):
        from automl.engine.data.streaming import read_image_bytes

        return read_image_bytes(location)
    from automl.engine.utils.files import read_bytes_bounded

    return read_bytes_bounded(location, "image_file_bytes", "image")


def display_path(path: str | os.PathLike) -> str:
    """A path as a user would type it: relative to the current folder when inside it."""
    text = str(path)
    if is_remote(text):
        from automl.engine.data.remote import redact_url

        return redact_url(text)
    try:
        return os.path.relpath(text) if not os.path.relpath(text).startswith("..") else text
    except ValueError:  # another drive on Windows
        return text
