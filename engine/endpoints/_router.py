"""The endpoint's front door: POST /score routed to a deployment's workers, as Azure routes
(docs/azure-compatibility.md §14.3-§14.5).

A plain ASGI app (no framework: each layer costs time on every request). Per request:
the key (401), the router's own bounds (429 past `concurrent_requests`, 413 past the body
bound, 503 while bodies held at once fill their budget), the deployment (the
`azureml-model-deployment` header, else the traffic weights; 404 when nothing has traffic
or the header names no deployment), a place in its queue (429), a ready worker, the
worker's answer within `request_timeout_ms` (408), and a copy to the mirror deployment
when one is set (its answer discarded; never for a request that names its deployment).
Every answer names the deployment that gave it in `azureml-model-deployment` (our
extension: Azure documents no such response header).

The route table (keys, traffic, deployments) is one immutable object swapped whole by the
supervisor; a request keeps the table it started with, so a change never splits a request.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import random
import secrets
from dataclasses import dataclass, field

from automl.engine.endpoints._client import WorkerFailed, WorkerResponse, WorkerUnavailable
from automl.engine.endpoints._groups import DeploymentGroup
from automl.engine.endpoints._traffic import TrafficSplit
from automl.engine.serving import Budget, ConcurrencyGate, RequestError, ServingLimits

logger = logging.getLogger("automl.endpoints")
DEPLOYMENT_HEADER = b"azureml-model-deployment"
FORWARDED_HEADERS = (b"content-type", b"x-request-id", b"x-ms-client-request-id", b"accept")
DROPPED_ANSWER_HEADERS = (b"content-length", b"connection", b"date", b"server", b"keep-alive")
OPEN_PATHS = ("/health", "/ready", "/")


@dataclass
class RouteTable:
    """What the router routes by, at one generation of the endpoint's state (never changed
    once published)."""

    generation: int
    keys: tuple[bytes, ...]
    traffic: dict[str, int]
    mirror: dict[str, int]
    groups: dict[str, DeploymentGroup] = field(default_factory=dict)
    split: TrafficSplit = field(init=False)

    def __post_init__(self) -> None:
        self.split = TrafficSplit.of(self.traffic)


class Answer(Exception):
    """Leave the request with this error answer (RequestError's JSON shape)."""

    def __init__(self, error: RequestError, deployment: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.deployment = deployment


class EndpointRouter:
    """The ASGI app of `automl endpoint serve`; `table` is set by the supervisor."""

    def __init__(self, name: str, limits: ServingLimits | None = None, lifespan=None) -> None:
        self.name = name
        self.limits = limits or ServingLimits.resolve()
        self.gate = ConcurrencyGate(self.limits.concurrent_requests)
        self.bodies = Budget(self.limits.inflight_body_bytes)
        self.table: RouteTable | None = None
        self.lifespan = lifespan  # (startup, shutdown) coroutines
        self.background: set[asyncio.Task] = set()

    def publish(self, table: RouteTable) -> None:
        """Route new requests by `table` from now on (requests under way keep theirs)."""
        self.table = table

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.lifespan:
                    await self.lifespan[0]()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.lifespan:
                    await self.lifespan[1]()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope, receive, send) -> None:
        path = scope["path"]
        if path in OPEN_PATHS and scope["method"] in ("GET", "HEAD"):
            await self._status(path, send)
            return
        try:
            if path != "/score":
                raise Answer(RequestError(f"no path {path}; the scoring path is /score", 404))
            if scope["method"] != "POST":
                raise Answer(RequestError("POST /score scores images", 405))
            await self._score(scope, receive, send)
        except Answer as answer:
            await _send_error(send, answer.error, answer.deployment)

    # ---- /health, /ready -------------------------------------------------------------

    async def _status(self, path: str, send) -> None:
        """/health (and /): 200 while the router runs (liveness). /ready: 200 once every
        deployment with live traffic has a ready worker (readiness), 503 before."""
        body = self.describe()
        status = 200 if path != "/ready" or body["ready"] else 503
        await _send(send, status, json.dumps(body).encode(), [])

    def describe(self) -> dict:
        table = self.table
        if table is None:
            return {"live": True, "ready": False, "endpoint": self.name, "generation": None}
        groups = {name: group.describe() for name, group in table.groups.items()}
        live = [name for name, percent in table.traffic.items() if percent > 0]
        return {
            "live": True,
            "ready": all(groups[name]["ready"] > 0 for name in live),
            "endpoint": self.name,
            "generation": table.generation,
            "traffic": table.traffic,
            "mirror_traffic": table.mirror,
            "deployments": groups,
        }

    # ---- /score ------------------------------------------------------------------------

    async def _score(self, scope, receive, send) -> None:
        table = self.table
        if table is None:
            raise Answer(_retry(RequestError("the endpoint is starting; retry shortly", 503)))
        headers = dict(scope["headers"])
        _check_key(headers, table.keys)
        if not self.gate.enter():
            raise Answer(
                _retry(
                    self.limits.refuse(
                        "concurrent_requests",
                        f"the endpoint is already working on {self.limits.concurrent_requests} "
                        "requests, its limit; retry later",
                        status=429,
                    )
                )
            )
        try:
            await self._score_admitted(table, headers, receive, send)
        finally:
            self.gate.leave()

    async def _score_admitted(self, table: RouteTable, headers: dict, receive, send) -> None:
        named = headers.get(DEPLOYMENT_HEADER, b"").decode("latin-1").strip()
        group = self._group(table, named)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + group.timeout_s
        size = self.bodies.share(_announced(headers, self.limits))
        try:
            await self.bodies.acquire(size, deadline - loop.time())
        except TimeoutError:
            raise Answer(
                _retry(
                    RequestError(
                        "the endpoint is busy: request bodies fill its budget; retry later", 503
                    )
                ),
                group.name,
            ) from None
        try:
            body = await _within(_read_body(receive, self.limits), deadline, group)
            if not named:
                self._mirror(table, body, headers)
            answer = await _within(self._forward(group, headers, body), deadline, group)
        finally:
            self.bodies.release(size)
        await _send(send, answer.status, answer.body, _answer_headers(answer, group.name))

    def _group(self, table: RouteTable, named: str) -> DeploymentGroup:
        if named:
            group = table.groups.get(named)
            if group is None:
                known = ", ".join(table.groups) or "none"
                close = difflib.get_close_matches(named, list(table.groups), n=1, cutoff=0.6)
                guess = f"; did you mean {close[0]!r}?" if close else ""
                raise Answer(
                    RequestError(
                        f"endpoint {self.name!r} has no deployment {named!r}{guess} "
                        f"(deployments: {known})",
                        404,
                        hint="name one of them in the azureml-model-deployment header",
                    )
                )
            return group
        chosen = table.split.choose()
        if chosen is None:
            raise Answer(
                RequestError(
                    f"no deployment of endpoint {self.name!r} has traffic",
                    404,
                    hint=f"give one traffic (automl endpoint update {self.name} --traffic "
                    '"blue=100"), or name a deployment in the azureml-model-deployment header',
                )
            )
        return table.groups[chosen]

    async def _forward(self, group: DeploymentGroup, headers: dict, body: bytes, mirror=False):
        if not group.admit():
            raise Answer(
                _retry(
                    RequestError(
                        f"deployment {group.name!r} has {group.admitted} requests in flight, its "
                        f"limit (2 x max_concurrent_requests_per_instance {group.per_instance} x "
                        f"instance_count {len(group.instances)}); retry later",
                        429,
                        limit=group.capacity,
                        hint="raise request_settings.max_concurrent_requests_per_instance or "
                        "instance_count in the deployment file",
                    )
                ),
                group.name,
            )
        try:
            return await self._on_worker(group, headers, body, mirror)
        finally:
            group.leave()

    async def _on_worker(self, group: DeploymentGroup, headers: dict, body: bytes, mirror: bool):
        forwarded = [(name, headers[name]) for name in FORWARDED_HEADERS if name in headers]
        for _attempt in range(2):  # a worker that just died: once more on another
            instance = await group.acquire()
            if instance is None:
                raise Answer(
                    _retry(
                        RequestError(
                            f"deployment {group.name!r} has no ready worker (starting or "
                            "restarting); retry shortly",
                            503,
                        )
                    ),
                    group.name,
                )
            try:
                answer = await instance.client.request("POST", "/score", forwarded, body)
            except WorkerUnavailable as exc:
                logger.info("%s: %s; out of rotation until its probes pass", instance.label, exc)
                instance.ready = False
                continue
            except WorkerFailed as exc:
                logger.warning("%s: %s", instance.label, exc)
                raise Answer(_model_error(group.name, str(exc)), group.name) from None
            finally:
                group.release(instance)
            group.stats.n_mirrored += mirror
            group.stats.n_requests += not mirror
            return answer
        raise Answer(_model_error(group.name, "no worker could be reached"), group.name)

    def _mirror(self, table: RouteTable, body: bytes, headers: dict) -> None:
        """Send a copy to the mirror deployment, `percent` % of the time; answer dropped."""
        for name, percent in table.mirror.items():
            group = table.groups.get(name)
            if group is None or random.random() * 100 >= percent:
                continue
            task = asyncio.create_task(self._shadow(group, headers, body))
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def _shadow(self, group: DeploymentGroup, headers: dict, body: bytes) -> None:
        try:
            async with asyncio.timeout(group.timeout_s):
                await self._forward(group, headers, body, mirror=True)
        except (Answer, TimeoutError) as exc:
            logger.debug("mirror copy to %s: %s", group.name, exc)


def _check_key(headers: dict, keys: tuple[bytes, ...]) -> None:
    scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
    given = given.strip()
    valid = [secrets.compare_digest(given, key) for key in keys]  # each compared, in full
    if scheme.lower() != b"bearer" or not any(valid):
        error = RequestError("missing or wrong key; send 'Authorization: Bearer <key>'", 401)
        error.headers["WWW-Authenticate"] = "Bearer"
        raise Answer(error)


def _announced(headers: dict, limits: ServingLimits) -> int:
    announced = headers.get(b"content-length", b"")
    if not announced.isdigit():
        return limits.body_bytes
    if int(announced) > limits.body_bytes:
        raise Answer(_body_too_large(f"the body has {int(announced):,} bytes", limits))
    return int(announced)


async def _read_body(receive, limits: ServingLimits) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Answer(RequestError("the client disconnected", 400))
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limits.body_bytes:
            raise Answer(_body_too_large("the body is larger", limits))
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _body_too_large(what: str, limits: ServingLimits) -> RequestError:
    return limits.refuse(
        "body_bytes",
        f"{what}; the limit is {limits.body_bytes:,} bytes ({limits.shown('body_bytes')} MiB)",
    )


async def _within(awaitable, deadline: float, group: DeploymentGroup):
    """`await awaitable`, or 408 at `deadline` (the deployment's request_timeout_ms)."""
    remaining = deadline - asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(max(remaining, 0)):
            return await awaitable
    except TimeoutError:
        ms = round(group.timeout_s * 1000)
        raise Answer(
            RequestError(
                f"deployment {group.name!r} did not answer within request_timeout_ms={ms}",
                408,
                limit=ms,
                hint="raise request_settings.request_timeout_ms in the deployment file",
            ),
            group.name,
        ) from None


def _model_error(name: str, reason: str) -> RequestError:
    """Azure's 424: the model's container gave no valid answer."""
    error = RequestError(f"deployment {name!r} failed to answer: {reason}", 424)
    error.headers["ms-azureml-model-error-reason"] = "model_error"
    return error


def _retry(error: RequestError) -> RequestError:
    error.headers["Retry-After"] = "1"
    return error


def _answer_headers(answer: WorkerResponse, deployment: str) -> list:
    """The worker's headers, the answering deployment's name and, for an error, Azure's
    header with the model's status code."""
    kept = [(k, v) for k, v in answer.headers if k not in DROPPED_ANSWER_HEADERS]
    if answer.status != 200:
        kept.append((b"ms-azureml-model-error-statuscode", str(answer.status).encode()))
    return [*kept, (DEPLOYMENT_HEADER, deployment.encode())]


async def _send_error(send, error: RequestError, deployment: str | None) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    if deployment:
        headers.append((DEPLOYMENT_HEADER, deployment.encode()))
    headers.append((b"content-type", b"application/json"))
    await _send(send, error.status, json.dumps(error.body()).encode(), headers)


async def _send(send, status: int, body: bytes, headers: list) -> None:
    if not any(name == b"content-type" for name, _ in headers):
        headers = [*headers, (b"content-type", b"application/json")]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
