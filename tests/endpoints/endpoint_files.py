"""Azure's endpoint and deployment files, as the endpoint tests write them."""

from __future__ import annotations

from pathlib import Path

ENDPOINT_FILE = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: {name}
auth_mode: key
description: flowers, two versions
"""
# Azure's AutoML-image deployment file, probes shortened so a test waits seconds
DEPLOYMENT_FILE = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: {name}
endpoint_name: {endpoint}
model: {model}
instance_type: Standard_DS3_v2
instance_count: {instances}
request_settings:
  request_timeout_ms: 90000
  max_concurrent_requests_per_instance: 4
liveness_probe:
  initial_delay: 1
  period: 1
  timeout: 5
  failure_threshold: 120
readiness_probe:
  initial_delay: 1
  period: 1
  timeout: 5
"""


def write_endpoint(folder: Path, name: str = "flowers-ep") -> Path:
    path = folder / f"{name}.yml"
    path.write_text(ENDPOINT_FILE.format(name=name))
    return path


def write_deployment(
    folder: Path, name: str, model: str, endpoint: str = "flowers-ep", instances: int = 1
) -> Path:
    path = folder / f"{name}.yml"
    text = DEPLOYMENT_FILE.format(name=name, endpoint=endpoint, model=model, instances=instances)
    path.write_text(text)
    return path
