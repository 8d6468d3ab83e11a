"""`automl endpoint serve NAME`: one process that routes the endpoint's requests and runs
its deployments' workers, until interrupted (Ctrl-C, SIGTERM) or the endpoint is deleted.

The process records itself in the endpoint's state (PID with start time, URL) so that
`endpoint show` gives the scoring URI and a second `serve` of the same endpoint is refused
while the first runs. Its workers stop with it, even when it is killed (each watches it).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator

from automl.engine.endpoints._placement import Placer
from automl.engine.endpoints._router import EndpointRouter
from automl.engine.endpoints._store import EndpointStateError, EndpointStore
from automl.engine.endpoints._supervisor import EndpointSupervisor
from automl.engine.errors import AutomlError
from automl.engine.utils.processes import ProcessIdentity

logger = logging.getLogger("automl.endpoints")


def serve_endpoint(
    name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 5001,
    device: str = "auto",
    gpus: list[str] | None = None,
    max_batch_size: int = 16,
    log_level: str = "warning",
    store: EndpointStore | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve endpoint `name` on host:port (port 0: a free one, shown by `endpoint show`);
    `on_listening(url)` once the port is bound."""
    import uvicorn

    from automl.engine.serving import server_config

    store = store or EndpointStore()
    store.get(name)  # an unknown name fails before anything starts
    placer = Placer(device, gpus)
    listener = bind_socket(host, port)
    url = _url(host, listener.getsockname()[1])
    with contextlib.closing(listener), claimed(store, name, url):
        router = EndpointRouter(name)
        server = uvicorn.Server(server_config(router, host, port, log_level))
        supervisor = EndpointSupervisor(
            store,
            name,
            router,
            placer=placer,
            max_batch_size=max_batch_size,
            worker_log_level=log_level,
            on_deleted=lambda: setattr(server, "should_exit", True),
        )
        router.lifespan = (supervisor.start, supervisor.stop)
        logger.info("endpoint %s: keys: automl endpoint get-credentials %s", name, name)
        if on_listening is not None:
            on_listening(url)
        try:
            server.run(sockets=[listener])
        finally:
            supervisor.kill()  # what a failed shutdown left: never orphan a worker


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or an error that says why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets, and
        # without it each answer's body waits for the client's delayed ACK (about 40 ms)
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(2048)
    except OSError as exc:
        raise AutomlError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc})",
            hint="pick another --port (0 takes a free one), or stop what uses it",
        ) from None
    listener.set_inheritable(False)
    return listener


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


@contextlib.contextmanager
def claimed(store: EndpointStore, name: str, url: str) -> Iterator[None]:
    """This process recorded as the endpoint's server while the block runs (refused while
    another one runs); the record is cleared after it, if the endpoint still exists."""
    me = ProcessIdentity.current()
    with store.transaction() as db:
        record = store.read(db, name)
        other = ProcessIdentity.from_json(record.server) if record.server else None
        if other is not None and other != me and other.is_alive():
            raise EndpointStateError(
                f"endpoint {name!r} is served already by process {other.pid} at "
                f"{record.server.get('url')}",
                hint=f"stop that process first (kill {other.pid})",
            )
        store.set_server(db, name, {**me.to_json(), "url": url})
    try:
        yield
    finally:
        with contextlib.suppress(AutomlError), store.transaction() as db:
            record = store.read(db, name)
            if record.server and ProcessIdentity.from_json(record.server) == me:
                store.set_server(db, name, None)
