"""The supervisor follows the endpoint's state: a new route table only once the deployments
it needs are ready, replaced revisions drained, the server stopped when the endpoint goes.
Workers are stand-ins (no processes): readiness is set by the test."""

from __future__ import annotations

import asyncio

import pytest
from endpoint_fakes import group
from endpoint_files import write_deployment, write_endpoint

from automl.engine import endpoints as ep
from automl.engine.endpoints._groups import DeploymentGroup
from automl.engine.endpoints._placement import Placer
from automl.engine.endpoints._router import EndpointRouter
from automl.engine.endpoints._spec import load_spec_file
from automl.engine.endpoints._store import DeploymentRecord, EndpointStore
from automl.engine.endpoints._supervisor import EndpointSupervisor


@pytest.fixture
def store(home, tmp_path, monkeypatch):
    store = EndpointStore(home)
    ep.create_endpoint(write_endpoint(tmp_path), store=store)
    monkeypatch.setattr(DeploymentGroup, "launch", lambda self: None)  # no processes
    monkeypatch.setattr(EndpointSupervisor, "_group", _unready_group)
    return store


def _unready_group(self, deployment, n_workers):
    made = group(deployment.name, [f"/nonexistent/{deployment.name}.sock"])
    made.revision = deployment.revision
    made.instances[0].ready = False
    return made


def put(store: EndpointStore, tmp_path, name: str, traffic: dict | None = None) -> None:
    spec = load_spec_file("deployment", write_deployment(tmp_path, name, "flowers:1")).data
    record = DeploymentRecord("flowers-ep", name, spec, "flowers:1", "/nonexistent")
    with store.transaction() as db:
        store.put_deployment(db, record)
        endpoint = store.read(db, "flowers-ep")
        split = traffic if traffic is not None else endpoint.traffic
        store.update_endpoint(db, "flowers-ep", traffic={**endpoint.traffic, name: 0, **split})


def test_tables_wait_for_ready_deployments_and_old_revisions_drain(store, tmp_path):
    async def scenario():
        router = EndpointRouter("flowers-ep")
        supervisor = EndpointSupervisor(store, "flowers-ep", router, placer=Placer("cpu"))
        put(store, tmp_path, "blue", {"blue": 100})
        await supervisor.tick()
        assert router.table is None  # blue has traffic and no ready worker yet
        blue = supervisor.groups[("blue", 1)]
        blue.instances[0].ready = True
        await supervisor.tick()
        assert router.table.traffic == {"blue": 100}

        put(store, tmp_path, "blue")  # a new revision of blue
        await supervisor.tick()
        assert router.table.groups["blue"] is blue  # the old one answers meanwhile
        supervisor.groups[("blue", 2)].instances[0].ready = True
        await supervisor.tick()
        assert router.table.groups["blue"].revision == 2
        assert ("blue", 1) not in supervisor.groups  # retired: drained, then stopped
        await asyncio.gather(*router.background)
        assert blue.instances[0].stopping
        await supervisor.stop()

    asyncio.run(scenario())


def test_a_deleted_endpoint_stops_the_server(store):
    async def scenario():
        stopped = []
        router = EndpointRouter("flowers-ep")
        supervisor = EndpointSupervisor(
            store, "flowers-ep", router, placer=Placer("cpu"), on_deleted=lambda: stopped.append(1)
        )
        assert await supervisor.tick() is True
        assert router.table.traffic == {}  # nothing to wait for: 404 until traffic is set
        ep.delete_endpoint("flowers-ep", store=store)
        assert await supervisor.tick() is False
        assert stopped == [1]
        await supervisor.stop()
        assert not supervisor.runtime_dir.exists()

    asyncio.run(scenario())
