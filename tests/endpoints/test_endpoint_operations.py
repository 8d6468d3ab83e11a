"""Endpoint and deployment operations on the state store: Azure's rules, model references
resolved in the registry, several processes at once."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from endpoint_files import write_deployment, write_endpoint

from automl.engine import endpoints as ep
from automl.engine.errors import AutomlError


@pytest.fixture
def endpoint(home, flowers, tmp_path):
    return ep.create_endpoint(write_endpoint(tmp_path))


def test_create_endpoint_makes_two_keys_and_no_traffic(endpoint, home):
    assert endpoint.name == "flowers-ep" and endpoint.traffic == {}
    assert endpoint.primary_key != endpoint.secondary_key and len(endpoint.primary_key) >= 40
    mode = stat.S_IMODE((home / "endpoints.db").stat().st_mode)
    assert mode == 0o600  # it holds the keys


def test_endpoint_names_are_unique(endpoint, tmp_path):
    with pytest.raises(AutomlError, match="exists already"):
        ep.create_endpoint(write_endpoint(tmp_path))


def test_traffic_in_the_create_file_is_refused(home, tmp_path):
    path = tmp_path / "ep.yml"
    path.write_text("name: ep1\ntraffic:\n  blue: 100\n")
    with pytest.raises(AutomlError, match="must exist first"):
        ep.create_endpoint(path)


@pytest.mark.parametrize(
    ("model", "ref"),
    [
        ("azureml:flowers@latest", "flowers:2"),
        ("azureml:flowers:1", "flowers:1"),
        ("flowers:1", "flowers:1"),
        ("flowers", "flowers:2"),
    ],
)
def test_model_references_resolve_in_the_registry(endpoint, tmp_path, model, ref):
    record = ep.create_deployment(write_deployment(tmp_path, "blue", model))
    assert record.model_ref == ref
    assert (tmp_path / "home" / "packages").is_dir()
    assert record.model_path.startswith(str(tmp_path / "home" / "packages"))


def test_inline_model_path_is_relative_to_the_file(endpoint, tmp_path, classification_run):
    path = tmp_path / "inline.yml"
    path.write_text(
        f"name: blue\nendpoint_name: flowers-ep\nmodel:\n  path: "
        f"{classification_run / 'best_model'}\n  type: mlflow_model\n"
    )
    record = ep.create_deployment(path)
    assert record.model_ref is None and record.model_path.endswith("best_model")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("azureml:flowerz@latest", "flowerz"),
        ("azureml:flowers:9", "has no version '9'"),
        ("azureml://registries/azureml/models/x/versions/1", "Azure registry or workspace"),
    ],
)
def test_unknown_models_are_clear_errors(endpoint, tmp_path, model, message):
    with pytest.raises(AutomlError, match=message):
        ep.create_deployment(write_deployment(tmp_path, "blue", model))


def test_deployment_of_unknown_endpoint_says_did_you_mean(endpoint, tmp_path):
    path = write_deployment(tmp_path, "blue", "flowers:1", endpoint="flowers-ex")
    with pytest.raises(AutomlError, match="no endpoint 'flowers-ex'; did you mean 'flowers-ep'"):
        ep.create_deployment(path)


def test_new_deployments_get_zero_traffic_unless_all_traffic(endpoint, tmp_path):
    ep.create_deployment(write_deployment(tmp_path, "blue", "flowers:1"), all_traffic=True)
    ep.create_deployment(write_deployment(tmp_path, "green", "flowers:2"))
    record = ep.get_endpoint("flowers-ep")
    assert record.traffic == {"blue": 100, "green": 0}
    assert record.deployment_names == ["blue", "green"]
    with pytest.raises(AutomlError, match="has a deployment 'green' already"):
        ep.create_deployment(write_deployment(tmp_path, "green", "flowers:2"))


def test_traffic_updates_follow_azures_rules(endpoint, tmp_path):
    ep.create_deployment(write_deployment(tmp_path, "blue", "flowers:1"), all_traffic=True)
    ep.create_deployment(write_deployment(tmp_path, "green", "flowers:2"))
    before = ep.get_endpoint("flowers-ep").generation
    record = ep.update_endpoint("flowers-ep", traffic="blue=90 green=10")
    assert record.traffic == {"blue": 90, "green": 10} and record.generation == before + 1
    with pytest.raises(AutomlError, match="sum to 95"):
        ep.update_endpoint("flowers-ep", traffic="blue=90 green=5")
    with pytest.raises(AutomlError, match="did you mean 'green'"):
        ep.update_endpoint("flowers-ep", traffic="blue=90 gren=10")
    assert ep.update_endpoint("flowers-ep", traffic="green=100").traffic == {
        "blue": 0,
        "green": 100,
    }
    mirrored = ep.update_endpoint("flowers-ep", mirror_traffic="blue=20")
    assert mirrored.mirror_traffic == {"blue": 20}
    with pytest.raises(AutomlError, match="not both"):
        ep.update_endpoint("flowers-ep", traffic="blue=50 green=50")
    assert ep.update_endpoint("flowers-ep", mirror_traffic="blue=0").mirror_traffic == {}


def test_a_deployment_with_traffic_cannot_be_deleted(endpoint, tmp_path):
    ep.create_deployment(write_deployment(tmp_path, "blue", "flowers:1"), all_traffic=True)
    ep.create_deployment(write_deployment(tmp_path, "green", "flowers:2"))
    with pytest.raises(AutomlError, match="cannot be deleted") as caught:
        ep.delete_deployment("flowers-ep", "blue")
    assert 'automl endpoint update flowers-ep --traffic "green=100"' in str(caught.value)
    ep.delete_deployment("flowers-ep", "green")
    assert ep.get_endpoint("flowers-ep").traffic == {"blue": 100}


def test_deployment_update_raises_its_revision(endpoint, tmp_path):
    ep.create_deployment(write_deployment(tmp_path, "blue", "flowers:1"))
    record = ep.create_deployment(write_deployment(tmp_path, "blue", "flowers:2"), replace=True)
    assert (record.revision, record.model_ref) == (2, "flowers:2")
    with pytest.raises(AutomlError, match="no deployment 'green'"):
        ep.create_deployment(write_deployment(tmp_path, "green", "flowers:2"), replace=True)


def test_delete_endpoint_removes_its_deployments(endpoint, tmp_path):
    ep.create_deployment(write_deployment(tmp_path, "blue", "flowers:1"), all_traffic=True)
    ep.delete_endpoint("flowers-ep")
    assert ep.list_endpoints() == []
    with pytest.raises(AutomlError, match="no endpoint 'flowers-ep'"):
        ep.get_deployment("flowers-ep", "blue")


def test_regenerate_one_key_keeps_the_other(endpoint):
    record = ep.regenerate_key("flowers-ep", "secondary")
    assert record.primary_key == endpoint.primary_key
    assert record.secondary_key != endpoint.secondary_key


REGENERATE = (
    "from automl.engine import endpoints as ep\n"
    "for _ in range(10):\n"
    "    ep.regenerate_key('flowers-ep', 'primary')\n"
)


def test_several_processes_never_lose_an_update(endpoint, home):
    start = ep.get_endpoint("flowers-ep").generation
    env = {**os.environ, "AUTOML_HOME": str(home)}
    processes = [subprocess.Popen([sys.executable, "-c", REGENERATE], env=env) for _ in range(3)]
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0]
    assert ep.get_endpoint("flowers-ep").generation == start + 30
