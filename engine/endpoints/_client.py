"""HTTP/1.1 from the router to one worker over its Unix socket, keep-alive connections
reused.

Written out rather than taken from httpx: the peer is always our own worker (uvicorn, whose
answers carry a Content-Length), and the forwarding cost is what the router adds to every
request. Measured on loopback (README, "Endpoints and deployments"), httpx's client took
several milliseconds per forwarded request, this one a fraction of one.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

HEAD_LIMIT = 64 * 1024  # a response head larger than this is not our worker's
BODY_LIMIT = 1 << 30  # our worker's answers are bounded by its request bounds; this stops a runaway


class WorkerUnavailable(Exception):
    """The worker could not be reached, or closed the connection before any answer: try
    another (scoring the same images twice is harmless; the router tries once more)."""


class WorkerFailed(Exception):
    """The worker took the request but gave no complete answer (it died, or closed)."""


@dataclass
class WorkerResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class WorkerClient:
    """Requests to the worker listening on `socket_path`."""

    def __init__(self, socket_path: str, max_idle: int = 64) -> None:
        self.socket_path = socket_path
        self.max_idle = max_idle
        self.idle: list[_Connection] = []

    async def request(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
    ) -> WorkerResponse:
        """One request; a kept-alive connection the worker closed meanwhile is replaced."""
        while self.idle:
            connection = self.idle.pop()
            try:
                return await self._exchange(connection, method, path, headers, body)
            except _StaleConnection:
                connection.close()
        try:
            return await self._exchange(await self._open(), method, path, headers, body)
        except _StaleConnection:  # a worker that is dying (or died on this request)
            raise WorkerUnavailable("the worker closed the connection without answering") from None

    async def _open(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=HEAD_LIMIT)
        except OSError as exc:
            raise WorkerUnavailable(f"cannot connect to {self.socket_path}: {exc}") from None
        return _Connection(reader, writer)

    async def _exchange(self, connection, method, path, headers, body) -> WorkerResponse:
        try:
            connection.writer.write(_request_bytes(method, path, headers, body))
            head = await connection.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            connection.close()
            if not exc.partial:
                raise _StaleConnection from None
            raise WorkerFailed("the worker closed the connection mid-answer") from None
        except ConnectionError:  # reset or broken before any answer came
            connection.close()
            raise _StaleConnection from None
        except (OSError, asyncio.LimitOverrunError) as exc:
            connection.close()
            raise WorkerFailed(f"the worker's answer failed: {exc}") from None
        except BaseException:  # cancelled (timeout): the answer may still come, drop it
            connection.close()
            raise
        return await self._finish(connection, head)

    async def _finish(self, connection: _Connection, head: bytes) -> WorkerResponse:
        try:
            status, headers, length, keep = _parse_head(head)
            body = await connection.reader.readexactly(length)
        except (ValueError, OSError, asyncio.IncompleteReadError) as exc:
            connection.close()
            raise WorkerFailed(f"the worker's answer is incomplete: {exc}") from None
        except BaseException:
            connection.close()
            raise
        if keep and len(self.idle) < self.max_idle:
            self.idle.append(connection)
        else:
            connection.close()
        return WorkerResponse(status, headers, body)

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()


class _StaleConnection(Exception):
    """The connection closed (or was reset) before any answer came: on a reused connection,
    the worker had closed it, or died since; the request is sent again on a new one."""


def _request_bytes(method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes):
    lines = [f"{method} {path} HTTP/1.1".encode(), b"host: worker"]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"content-length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]], int, bool]:
    """(status, headers, body length, keep-alive) of a response head; ValueError if bad."""
    status_line, *lines = head[:-4].split(b"\r\n")
    version, status, *_ = status_line.split(b" ", 2)
    if not version.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
    headers, length, keep = [], None, True
    for line in lines:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise ValueError("chunked answers are not expected from a worker")
        elif name == b"connection" and value.lower() == b"close":
            keep = False
        headers.append((name, value))
    if length is None or not 0 <= length <= BODY_LIMIT:
        raise ValueError(f"content-length {length} is missing or out of bounds")
    return int(status), headers, length, keep
