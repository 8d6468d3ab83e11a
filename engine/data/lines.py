"""Reading the lines of a JSONL file within bounds: file size, line length, line count.

A local file must be a regular file (not a folder, a device such as /dev/zero, or a FIFO)
of at most `manifest_file_bytes`; a remote one is downloaded, within the same bound, to a
temporary file first. Lines are read one at a time, never the whole file at once: a line
longer than `manifest_line_chars` is a per-line problem (the rest of it is skipped), and
a dataset of more than `manifest_lines` lines is refused.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from automl.engine.data.urls import display_path, is_remote
from automl.engine.errors import LimitError
from automl.schemas import limit, limit_hint

CHUNK_CHARS = 1 << 16


def bounded_lines(file: str, encoding: str) -> Iterator[tuple[int, str, str | None]]:
    """(line number, text, problem) for each non-blank line of `file`.

    `problem` is None for a usable line; for a line over the length bound the text is
    empty and `problem` says so. Raises OSError and UnicodeDecodeError as reading does.
    """
    max_chars = limit("manifest_line_chars")
    with _open_text(file, encoding) as handle:
        for number, (text, complete) in enumerate(_raw_lines(handle, max_chars), start=1):
            if number == 1:
                text = text.removeprefix("\ufeff")
            if not complete:
                yield number, "", _long_line_problem(max_chars)
            elif text.strip():
                yield number, text, None


def count_lines(lines: Iterator, first_file: str) -> Iterator:
    """Pass `lines` through, refusing a dataset of more than `manifest_lines` lines."""
    max_lines = limit("manifest_lines")
    for n_read, line in enumerate(lines, start=1):
        if n_read > max_lines:
            raise LimitError(
                f"{display_path(first_file)}: the dataset has more than {max_lines:,} lines "
                "(images); split it into several jobs, or sample it with an MLTable "
                "'take' or 'take_random_sample' transformation",
                hint=limit_hint("manifest_lines"),
            )
        yield line


def _raw_lines(handle: TextIO, max_chars: int) -> Iterator[tuple[str, bool]]:
    """(text without its newline, whether it fit in `max_chars`) for each line."""
    while True:
        text = handle.readline(max_chars + 1)
        if not text:
            return
        if len(text) <= max_chars or (len(text) == max_chars + 1 and text.endswith("\n")):
            yield text.rstrip("\r\n"), True
            continue
        _skip_rest_of_line(handle)
        yield "", False


def _skip_rest_of_line(handle: TextIO) -> None:
    while True:
        chunk = handle.readline(CHUNK_CHARS)
        if not chunk or chunk.endswith("\n"):
            return


def _long_line_problem(max_chars: int) -> str:
    return (
        f"line longer than the limit of {max_chars:,} characters; "
        f"{limit_hint('manifest_line_chars')}"
    )


@contextlib.contextmanager
def _open_text(file: str, encoding: str) -> Iterator[TextIO]:
    if is_remote(file):
        with _downloaded(file) as local, open(local, encoding=encoding) as handle:
            yield handle
        return
    _check_local(file)
    with open(file, encoding=encoding) as handle:
        yield handle


def _check_local(file: str) -> None:
    from automl.engine.utils.files import check_regular_file

    info = check_regular_file(file, "data file")
    max_bytes = limit("manifest_file_bytes")
    if info.st_size > max_bytes:
        raise LimitError(
            f"data file {display_path(file)}: larger than the limit of {max_bytes:,} bytes",
            hint=limit_hint("manifest_file_bytes"),
        )


@contextlib.contextmanager
def _downloaded(url: str) -> Iterator[Path]:
    """A remote JSONL file, downloaded with retries into a temporary file (http(s) by the
    standard library, so without aiohttp; other schemes through fsspec)."""
    from automl.engine.data.remote import RetryPolicy, download

    with tempfile.TemporaryDirectory(prefix="automl-mltable-") as folder:
        partial = Path(folder) / "table.jsonl"
        download(url, partial, RetryPolicy(), limit_name="manifest_file_bytes")
        yield partial
