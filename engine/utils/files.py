"""Atomic file writes (a reader, another process or a crash never sees half a file) and
bounded reads (a FIFO, a device or a huge file never fills memory)."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2) -> None:
    """Write `data` as JSON atomically (see `write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=indent, sort_keys=False, default=str) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON object as a line and flush it, so a crash loses at most that line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
        handle.flush()


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSONL file written by `append_jsonl`, ignoring a torn last line."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # only the line being written when a process died can be torn
    return records


def check_regular_file(path: str | os.PathLike, what: str) -> os.stat_result:
    """Stat `path` and refuse anything but a regular file (FIFO, device, socket, folder)."""
    from automl.engine.errors import AutomlError

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise AutomlError(f"{what} {os.fspath(path)}: no such file") from None
    except OSError as exc:
        raise AutomlError(f"{what} {os.fspath(path)}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise AutomlError(
            f"{what} {os.fspath(path)}: not a regular file (a folder, device, FIFO or socket)",
            hint="point it at an ordinary file",
        )
    return info


def read_bytes_bounded(path: str | os.PathLike, limit_name: str, what: str) -> bytes:
    """Read a regular file of at most the bound `limit_name` (schemas/limits.json) bytes.

    The size is checked before reading and the read itself stops one byte past the bound,
    so a file that grows (or reports size 0, as /proc files do) cannot fill memory either.
    """
    from automl.engine.errors import LimitError
    from automl.schemas import limit, limit_hint

    info = check_regular_file(path, what)
    max_bytes = limit(limit_name)
    data = b""
    if info.st_size <= max_bytes:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    if info.st_size > max_bytes or len(data) > max_bytes:
        raise LimitError(
            f"{what} {os.fspath(path)}: larger than the limit of {max_bytes:,} bytes",
            hint=limit_hint(limit_name),
        )
    return data


def read_text_bounded(path: str | os.PathLike, limit_name: str, what: str) -> str:
    """`read_bytes_bounded` decoded as UTF-8 (a BOM is dropped); bad bytes are an error."""
    from automl.engine.errors import AutomlError

    data = read_bytes_bounded(path, limit_name, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AutomlError(
            f"{what} {os.fspath(path)}: not UTF-8 text (byte {exc.start})",
            hint="save the file as UTF-8",
        ) from None
