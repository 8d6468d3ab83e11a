"""Online endpoints with deployments, from Azure's CLI v2 endpoint and deployment files
(docs/azure-compatibility.md §14).

An endpoint (name, keys, traffic split, mirror) holds deployments (a registered model,
instance_count, request settings, probes); their state lives in `$AUTOML_HOME/endpoints.db`.
`serve_endpoint` runs one process that routes `/score` by the traffic weights (or the
`azureml-model-deployment` header) to worker processes, each the model server of
engine/serving, and follows every change of the state without dropping a request.

Public names:
- files and state: `create_endpoint`, `update_endpoint`, `delete_endpoint`,
  `get_endpoint`, `list_endpoints`, `regenerate_key`, `create_deployment`,
  `get_deployment`, `delete_deployment`, `describe_endpoint`, `describe_deployment`,
  `credentials`;
- serving: `serve_endpoint`;
- types: `EndpointRecord`, `DeploymentRecord`, `EndpointStore`, `EndpointFileError`,
  `TrafficError`, `EndpointStateError`.
"""

from __future__ import annotations

from automl.engine.endpoints._operations import (
    create_deployment,
    create_endpoint,
    delete_deployment,
    delete_endpoint,
    get_deployment,
    regenerate_key,
    update_endpoint,
)
from automl.engine.endpoints._spec import EndpointFileError
from automl.engine.endpoints._store import (
    DeploymentRecord,
    EndpointRecord,
    EndpointStateError,
    EndpointStore,
)
from automl.engine.endpoints._traffic import TrafficError
from automl.engine.utils.processes import ProcessIdentity


def serve_endpoint(name: str, **options) -> None:
    """Serve endpoint `name` until interrupted (engine/endpoints/_serve.py: host, port,
    device, gpus, max_batch_size, log_level). Imported on use: the router's web stack is
    not needed by the other commands."""
    from automl.engine.endpoints._serve import serve_endpoint as serve

    serve(name, **options)


def live_server(record: EndpointRecord) -> dict | None:
    """The endpoint's `serve` process record while that process runs, else None."""
    identity = ProcessIdentity.from_json(record.server) if record.server else None
    return record.server if identity is not None and identity.is_alive() else None


def get_endpoint(name: str, *, store: EndpointStore | None = None) -> EndpointRecord:
    return (store or EndpointStore()).get(name)


def list_endpoints(*, store: EndpointStore | None = None) -> list[EndpointRecord]:
    return (store or EndpointStore()).list()


def credentials(record: EndpointRecord) -> dict:
    """Azure's `get-credentials` answer for key auth."""
    return {"primaryKey": record.primary_key, "secondaryKey": record.secondary_key}


def describe_endpoint(record: EndpointRecord) -> dict:
    """The endpoint as `endpoint show` prints it: Azure's keys, and the local URI while a
    `serve` process runs (keys are shown by `get-credentials` only, as on Azure)."""
    server = live_server(record)
    spec = record.spec
    return {
        "name": record.name,
        "description": spec.get("description"),
        "tags": spec.get("tags", {}),
        "auth_mode": "key",
        "traffic": record.traffic,
        "mirror_traffic": record.mirror_traffic,
        "scoring_uri": f"{server['url']}/score" if server else None,
        "provisioning_state": "Succeeded",
        "serving_pid": server["pid"] if server else None,
        "deployments": [deployment.name for deployment in record.deployments],
        "generation": record.generation,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def describe_deployment(record: DeploymentRecord, traffic: dict[str, int]) -> dict:
    """The deployment as `deployment show` prints it: its file with every default, the
    model version it resolved to, its package and its traffic."""
    return {
        **{k: v for k, v in record.spec.items() if k != "$schema"},
        "model_ref": record.model_ref,
        "model_path": record.model_path,
        "traffic": traffic.get(record.name, 0),
        "revision": record.revision,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


__all__ = [
    "DeploymentRecord",
    "EndpointFileError",
    "EndpointRecord",
    "EndpointStateError",
    "EndpointStore",
    "TrafficError",
    "create_deployment",
    "create_endpoint",
    "credentials",
    "delete_deployment",
    "delete_endpoint",
    "describe_deployment",
    "describe_endpoint",
    "get_deployment",
    "get_endpoint",
    "list_endpoints",
    "live_server",
    "regenerate_key",
    "serve_endpoint",
    "update_endpoint",
]
