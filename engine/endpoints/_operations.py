"""What `automl endpoint ...` and `automl deployment ...` change: each operation is one
state transaction that reads, checks Azure's rules and writes (docs/azure-compatibility.md
§14), so two commands at once never undo each other.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from automl.engine.endpoints._models import resolve_model
from automl.engine.endpoints._spec import SpecFile, load_spec_file
from automl.engine.endpoints._store import (
    DeploymentRecord,
    EndpointRecord,
    EndpointStateError,
    EndpointStore,
    now,
)
from automl.engine.endpoints._traffic import (
    TrafficError,
    active_mirror,
    check_mirror,
    check_names,
    check_traffic,
    full_traffic,
    parse_traffic,
    unknown_deployment,
)

logger = logging.getLogger("automl.endpoints")
KEY_TYPES = ("primary", "secondary")
TOKEN_MODES = ("aml_token", "aad_token")


def new_key() -> str:
    """A random endpoint key (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def _checked(kind: str, file: str | Path, overrides: dict) -> SpecFile:
    spec = load_spec_file(kind, file, overrides)
    for warning in spec.warnings:
        logger.warning("%s", warning)
    if spec.data.get("auth_mode") in TOKEN_MODES:
        logger.warning(
            "%s: auth_mode %s needs Azure's identity services; the endpoint uses key auth "
            "(automl endpoint get-credentials %s)",
            spec.path,
            spec.data["auth_mode"],
            spec.data["name"],
        )
    return spec


# ---- endpoints ----------------------------------------------------------------------------


def create_endpoint(file: str | Path, *, name: str | None = None, store=None) -> EndpointRecord:
    """A new endpoint from an endpoint file, with two fresh keys and no traffic yet."""
    spec = _checked("endpoint", file, {"name": name})
    data = spec.data
    if any(data["traffic"].values()) or any(data["mirror_traffic"].values()):
        raise TrafficError(
            f"{spec.path}: traffic names deployments, which must exist first (as on Azure)",
            hint=f"create the deployments, then: automl endpoint update {data['name']} "
            '--traffic "blue=100"',
        )
    store = store or EndpointStore()
    record = EndpointRecord(
        name=data["name"],
        spec=_endpoint_spec(data),
        primary_key=new_key(),
        secondary_key=new_key(),
        traffic={},
        mirror_traffic={},
        generation=1,
        server=None,
        created_at=now(),
        updated_at=now(),
    )
    with store.transaction() as db:
        if store.exists(db, record.name):
            raise EndpointStateError(
                f"{spec.path}: endpoint {record.name!r} exists already",
                hint=f"change it with automl endpoint update {record.name} --file {spec.path}, "
                f"or delete it first (automl endpoint delete {record.name})",
            )
        store.insert_endpoint(db, record)
        return store.read(db, record.name)


def _endpoint_spec(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("traffic", "mirror_traffic", "$schema")}


def update_endpoint(
    name: str | None,
    *,
    file: str | Path | None = None,
    traffic: str | None = None,
    mirror_traffic: str | None = None,
    store=None,
) -> EndpointRecord:
    """Change an endpoint: its file's keys, then `--traffic`, then `--mirror-traffic`."""
    spec = _checked("endpoint", file, {"name": name}) if file is not None else None
    name = spec.data["name"] if spec is not None else name
    store = store or EndpointStore()
    with store.transaction() as db:
        record = store.read(db, name)
        values = _file_changes(record, spec) if spec is not None else {}
        split = values.get("traffic", record.traffic)
        mirror = values.get("mirror_traffic", record.mirror_traffic)
        if traffic is not None:
            split = _new_traffic(record, parse_traffic(traffic, "--traffic"), "--traffic")
        if mirror_traffic is not None:
            mirror = parse_traffic(mirror_traffic, "--mirror-traffic")
            check_names(mirror, record.deployment_names, "--mirror-traffic", name)
        check_mirror(mirror, split, "--mirror-traffic" if mirror_traffic else "traffic")
        values.update(traffic=split, mirror_traffic=active_mirror(mirror))
        store.update_endpoint(db, name, **values)
        return store.read(db, name)


def _new_traffic(record: EndpointRecord, given: dict[str, int], where: str) -> dict[str, int]:
    check_names(given, record.deployment_names, where, record.name)
    check_traffic(given, where)
    return full_traffic(given, record.deployment_names)


def _file_changes(record: EndpointRecord, spec: SpecFile) -> dict:
    """The columns an `update --file` sets: its spec, and traffic only where the file has it."""
    values: dict = {"spec": _endpoint_spec(spec.data)}
    where = f"{spec.path}: traffic"
    if "traffic" in spec.given_keys:
        values["traffic"] = _new_traffic(record, spec.data["traffic"], where)
    if "mirror_traffic" in spec.given_keys:
        check_names(spec.data["mirror_traffic"], record.deployment_names, where, record.name)
        values["mirror_traffic"] = spec.data["mirror_traffic"]
    return values


def delete_endpoint(name: str, *, store=None) -> EndpointRecord:
    """Delete an endpoint and its deployments (a router serving it stops)."""
    store = store or EndpointStore()
    with store.transaction() as db:
        record = store.read(db, name)
        store.delete_endpoint(db, name)
    return record


def regenerate_key(name: str, key_type: str = "primary", *, store=None) -> EndpointRecord:
    """A new primary or secondary key (the other one keeps working meanwhile)."""
    if key_type not in KEY_TYPES:
        raise EndpointStateError(f"--key-type {key_type!r}: expected primary or secondary")
    store = store or EndpointStore()
    with store.transaction() as db:
        store.read(db, name)
        store.update_endpoint(db, name, **{f"{key_type}_key": new_key()})
        return store.read(db, name)


# ---- deployments --------------------------------------------------------------------------


def create_deployment(
    file: str | Path,
    *,
    name: str | None = None,
    endpoint_name: str | None = None,
    all_traffic: bool = False,
    replace: bool = False,
    store=None,
    registry=None,
) -> DeploymentRecord:
    """Add a deployment from its file (0 % traffic unless `all_traffic`), or with `replace`
    change an existing one: a serving router then starts its new workers and swaps them in
    once ready."""
    spec = _checked("deployment", file, {"name": name, "endpoint_name": endpoint_name})
    model = resolve_model(spec.data["model"], spec.path, registry)
    record = DeploymentRecord(
        endpoint=spec.data["endpoint_name"],
        name=spec.data["name"],
        spec=spec.data,
        model_ref=model.ref,
        model_path=str(model.path),
    )
    store = store or EndpointStore()
    with store.transaction() as db:
        endpoint = store.read(db, record.endpoint)
        _check_put(endpoint, record, replace, spec.path)
        store.put_deployment(db, record)
        names = [*endpoint.deployment_names, *([] if replace else [record.name])]
        given = {record.name: 100} if all_traffic else endpoint.traffic
        traffic = full_traffic(given, names)
        check_mirror(endpoint.mirror_traffic, traffic, "--all-traffic")
        store.update_endpoint(db, record.endpoint, traffic=traffic)
        return store.read(db, record.endpoint).deployment(record.name)


def _check_put(endpoint: EndpointRecord, record: DeploymentRecord, replace: bool, file) -> None:
    from automl.schemas import limit, limit_hint

    exists = endpoint.deployment(record.name) is not None
    if exists and not replace:
        raise EndpointStateError(
            f"{file}: endpoint {endpoint.name!r} has a deployment {record.name!r} already",
            hint=f"change it with automl deployment update --file {file}",
        )
    if replace and not exists:
        raise unknown_deployment(record.name, endpoint.deployment_names, str(file), endpoint.name)
    if not exists and len(endpoint.deployments) >= limit("endpoint_deployments"):
        raise EndpointStateError(
            f"{file}: endpoint {endpoint.name!r} has {len(endpoint.deployments)} deployments, "
            f"the limit",
            hint=f"delete one first, or {limit_hint('endpoint_deployments')}",
        )


def get_deployment(endpoint: str, name: str, *, store=None) -> DeploymentRecord:
    record = (store or EndpointStore()).get(endpoint)
    return _deployment_of(record, name, "deployment")


def _deployment_of(record: EndpointRecord, name: str, where: str) -> DeploymentRecord:
    found = record.deployment(name)
    if found is None:
        raise unknown_deployment(name, record.deployment_names, where, record.name)
    return found


def delete_deployment(endpoint: str, name: str, *, store=None) -> DeploymentRecord:
    """Delete a deployment without live or mirrored traffic (Azure refuses it otherwise)."""
    store = store or EndpointStore()
    with store.transaction() as db:
        record = store.read(db, endpoint)
        deployment = _deployment_of(record, name, "deployment delete")
        _check_no_traffic(record, name)
        store.delete_deployment(db, endpoint, name)
        traffic = {k: v for k, v in record.traffic.items() if k != name}
        store.update_endpoint(db, endpoint, traffic=traffic)
    return deployment


def _check_no_traffic(record: EndpointRecord, name: str) -> None:
    live = record.traffic.get(name, 0)
    if live > 0:
        others = [n for n in record.deployment_names if n != name]
        example = f"{others[0]}=100" if others else f"{name}=0"
        raise TrafficError(
            f"deployment {name!r} has {live} % of the live traffic of endpoint "
            f"{record.name!r}; a deployment with traffic cannot be deleted (as on Azure)",
            hint="move its traffic first: "
            f'automl endpoint update {record.name} --traffic "{example}"',
        )
    if record.mirror_traffic.get(name, 0) > 0:
        raise TrafficError(
            f"deployment {name!r} receives mirrored traffic of endpoint {record.name!r}",
            hint="clear it first: "
            f'automl endpoint update {record.name} --mirror-traffic "{name}=0"',
        )
