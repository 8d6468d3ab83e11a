"""Endpoint and deployment files: Azure's YAML unchanged, checked against the schemas with
file:line errors and did-you-mean, cloud-only keys warned about, defaults from the schema."""

from __future__ import annotations

import json

import pytest
from endpoint_files import write_deployment, write_endpoint
from jsonschema import Draft202012Validator

from automl.engine.endpoints._spec import EndpointFileError, load_spec_file
from automl.engine.endpoints._validate import KINDS, load_schema
from automl.engine.errors import AutomlError


def test_azure_endpoint_file_loads_with_defaults(tmp_path):
    spec = load_spec_file("endpoint", write_endpoint(tmp_path))
    assert spec.data["name"] == "flowers-ep"
    assert spec.data["auth_mode"] == "key"
    assert spec.data["traffic"] == {} and spec.data["mirror_traffic"] == {}
    assert spec.warnings == []


def test_azure_deployment_file_fills_probe_and_request_defaults(tmp_path):
    path = tmp_path / "d.yml"
    path.write_text("name: blue\nendpoint_name: ep1\nmodel: azureml:flowers@latest\n")
    data = load_spec_file("deployment", path).data
    assert data["instance_count"] == 1
    assert data["request_settings"] == {
        "request_timeout_ms": 5000,
        "max_concurrent_requests_per_instance": 1,
    }
    expected = {
        "initial_delay": 10,
        "period": 10,
        "timeout": 2,
        "success_threshold": 1,
        "failure_threshold": 30,
    }
    assert data["liveness_probe"] == expected == data["readiness_probe"]


def test_given_probe_keys_are_kept_and_the_rest_filled(tmp_path):
    data = load_spec_file("deployment", write_deployment(tmp_path, "blue", "flowers:1")).data
    assert data["readiness_probe"] == {
        "initial_delay": 1,
        "period": 1,
        "timeout": 5,
        "success_threshold": 1,
        "failure_threshold": 30,
    }
    assert data["request_settings"]["request_timeout_ms"] == 90000


def test_cloud_only_keys_warn_with_their_line(tmp_path):
    spec = load_spec_file("deployment", write_deployment(tmp_path, "blue", "flowers:1"))
    [warning] = spec.warnings
    assert warning.startswith(f"{tmp_path / 'blue.yml'}:5: $.instance_type: ")
    assert "ignored" in warning


def test_unknown_keys_get_did_you_mean_at_their_line(tmp_path):
    path = tmp_path / "d.yml"
    path.write_text(
        "name: blue\nendpoint_name: ep1\nmodel: flowers:1\nrequest_settings:\n"
        "  request_timeout: 100\nreadines_probe:\n  period: 1\n"
    )
    with pytest.raises(EndpointFileError) as caught:
        load_spec_file("deployment", path)
    issues = caught.value.issues
    assert f"{path}:5: $.request_settings.request_timeout: unknown key; did you mean " in issues[0]
    assert "'request_timeout_ms'" in issues[0]
    assert issues[1] == f"{path}:6: $.readines_probe: unknown key; did you mean 'readiness_probe'?"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\n", "$.name: name 'x' is not allowed: 3-32 characters"),
        ("name: ep1\nauth_mode: keys\n", "unknown value 'keys'; did you mean 'key'?"),
        ("name: ep1\ntraffic:\n  blue: 90\n  green: 20\n", "sum to 110"),
        ("name: ep1\nmirror_traffic:\n  green: 60\n", "it must be at most 50"),
        ("name: ep1\nmirror_traffic: {a12: 10, b12: 10}\n", "at most 1 allowed"),
        ("description: x\n", "$.name: missing required key"),
    ],
)
def test_endpoint_file_errors(tmp_path, text, expected):
    path = tmp_path / "ep.yml"
    path.write_text(text)
    with pytest.raises(EndpointFileError) as caught:
        load_spec_file("endpoint", path)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{path}:")


def test_liveness_success_threshold_is_fixed_at_one(tmp_path):
    path = tmp_path / "d.yml"
    path.write_text(
        "name: blue\nendpoint_name: ep1\nmodel: m:1\nliveness_probe:\n  success_threshold: 2\n"
    )
    with pytest.raises(EndpointFileError, match=r"d.yml:5: \$.liveness_probe.success_threshold"):
        load_spec_file("deployment", path)


def test_wrong_types_and_ranges(tmp_path):
    path = tmp_path / "d.yml"
    path.write_text(
        "name: blue\nendpoint_name: ep1\nmodel: 3\ninstance_count: 0\nrequest_settings:\n"
        "  request_timeout_ms: 999999\n"
    )
    with pytest.raises(EndpointFileError) as caught:
        load_spec_file("deployment", path)
    text = str(caught.value)
    assert "3 problems" in text
    assert "$.model: expected string, got 3" in text
    assert "$.instance_count: 0 is out of range: it must be at least 1" in text
    assert "request_timeout_ms: 999999 is out of range: it must be at most 180000" in text


def test_override_name_replaces_the_files(tmp_path):
    spec = load_spec_file("endpoint", write_endpoint(tmp_path), {"name": "other-ep"})
    assert spec.data["name"] == "other-ep"


def test_files_are_bounded_and_regular(tmp_path, monkeypatch):
    path = write_endpoint(tmp_path)
    monkeypatch.setenv("AUTOML_MAX_ENDPOINT_FILE_BYTES", "10")
    with pytest.raises(AutomlError, match="AUTOML_MAX_ENDPOINT_FILE_BYTES"):
        load_spec_file("endpoint", path)
    with pytest.raises(AutomlError, match="is a folder"):
        load_spec_file("endpoint", tmp_path)
    with pytest.raises(AutomlError, match="no such file"):
        load_spec_file("endpoint", tmp_path / "missing.yml")


def test_not_a_mapping_and_yaml_errors_name_the_line(tmp_path):
    path = tmp_path / "ep.yml"
    path.write_text("- a\n- b\n")
    with pytest.raises(EndpointFileError, match="ep.yml:1: the endpoint file must be a mapping"):
        load_spec_file("endpoint", path)
    path.write_text("name: ep1\nname: ep2\n")
    with pytest.raises(EndpointFileError, match="ep.yml:2: duplicate key 'name'"):
        load_spec_file("endpoint", path)


@pytest.mark.parametrize("kind", KINDS)
def test_schemas_are_valid_and_every_default_fits_its_schema(kind):
    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    for path, node in _defaults(schema):
        resolved = _resolve(node, schema)
        errors = list(Draft202012Validator(resolved).iter_errors(node["default"]))
        assert not errors, f"{kind} {path}: {errors[0].message}"


def _defaults(node, path=()):
    if isinstance(node, dict):
        if "default" in node:
            yield path, node
        for key, value in node.items():
            yield from _defaults(value, path + (key,))


def _resolve(node: dict, root: dict) -> dict:
    if not node.get("$ref", "").startswith("#/"):
        return {k: v for k, v in node.items() if k != "default"}
    target = root
    for part in node["$ref"][2:].split("/"):
        target = target[part]
    return json.loads(json.dumps(target))
