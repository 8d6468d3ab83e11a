"""Which Host names an endpoint without a key answers (against DNS rebinding).

A web page the user opens can make the browser send requests to 127.0.0.1 under the page's
own host name (its DNS record changed to point there); the Host header then names that
site, not this machine. Without a key, only the names below are answered.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.responses import JSONResponse

OPEN_PATHS = ("/health", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("", "0.0.0.0", "::")


def default_allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> list[str]:
    """localhost, the loopback addresses, the address bound (unless a wildcard) and `extra`
    (`--allowed-host`; '*' answers every name)."""
    names = [*LOOPBACK_NAMES, *extra]
    if bind_host not in WILDCARD_BINDS:
        names.append(bind_host)
    return list(dict.fromkeys(host_name(name) for name in names))


def host_name(value: str) -> str:
    """The name of a Host header or address, lower case, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:5001
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        return value.split(":", 1)[0]
    return value


class HostCheckMiddleware:
    """421 for a request whose Host header names none of `allowed` (open paths excepted)."""

    def __init__(self, app, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = {host_name(name) for name in allowed}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        await self._refuse(scope)(scope, receive, send)

    def _allowed(self, scope) -> bool:
        return "*" in self.allowed or host_name(self._host(scope)) in self.allowed

    @staticmethod
    def _host(scope) -> str:
        header = next((v for k, v in scope["headers"] if k == b"host"), b"")
        return header.decode("latin-1")

    def _refuse(self, scope) -> JSONResponse:
        return JSONResponse(
            {
                "error": f"Host {self._host(scope)!r} is not a name this endpoint answers "
                "(it serves without a key)",
                "hint": "call it as http://localhost:PORT, or start `automl model serve` with "
                "--allowed-host NAME (or with key auth)",
            },
            status_code=421,
        )
