"""`automl endpoint ...` and `automl deployment ...` as a shell user runs them (the
installed console script): Azure's files, `-o json`, tables, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from endpoint_files import write_deployment, write_endpoint

AUTOML = str(Path(sys.executable).with_name("automl"))


def automl(*args) -> subprocess.CompletedProcess:
    """The console script, in this test's AUTOML_HOME (the `home` fixture sets it)."""
    command = [AUTOML, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def ok(*args) -> str:
    result = automl(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def failed(*args, code: int = 1) -> str:
    result = automl(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def files(tmp_path, flowers) -> Path:
    write_endpoint(tmp_path)
    write_deployment(tmp_path, "blue", "azureml:flowers:1")
    write_deployment(tmp_path, "green", "azureml:flowers@latest")
    return tmp_path


def test_endpoint_lifecycle_from_azures_files(files):
    created = json.loads(ok("endpoint", "create", "--file", files / "flowers-ep.yml", "-o", "json"))
    assert created["name"] == "flowers-ep" and created["traffic"] == {}
    assert "primaryKey" not in json.dumps(created)  # keys: get-credentials only, as Azure
    result = automl("deployment", "create", "-f", files / "blue.yml", "--all-traffic")
    assert result.returncode == 0 and "$.instance_type: ignored here" in result.stderr
    green = json.loads(ok("deployment", "create", "-f", files / "green.yml", "-o", "json"))
    assert (green["model_ref"], green["traffic"]) == ("flowers:2", 0)
    assert green["readiness_probe"]["failure_threshold"] == 30  # the schema's default

    shown = json.loads(ok("endpoint", "update", "flowers-ep", "--traffic", "blue=90 green=10",
                          "-o", "json"))  # fmt: skip
    assert shown["traffic"] == {"blue": 90, "green": 10}
    mirror = json.loads(ok("endpoint", "update", "flowers-ep", "--traffic", "blue=100",
                           "--mirror-traffic", "green=20", "-o", "json"))  # fmt: skip
    assert mirror["mirror_traffic"] == {"green": 20}

    listed = ok("deployment", "list", "-e", "flowers-ep").splitlines()  # piped: TSV
    assert listed[0].split("\t") == ["name", "model", "traffic", "instances", "revision", "updated"]
    assert listed[1].split("\t")[:3] == ["blue", "flowers:1", "100"]
    assert ok("endpoint", "list").splitlines()[1].startswith("flowers-ep\tblue=100 green=0\t")

    keys = json.loads(ok("endpoint", "get-credentials", "flowers-ep", "-o", "json"))
    new = json.loads(ok("endpoint", "regenerate-keys", "flowers-ep", "-o", "json"))
    assert new["primaryKey"] != keys["primaryKey"]
    assert new["secondaryKey"] == keys["secondaryKey"]

    assert "cannot be deleted" in failed("deployment", "delete", "blue", "-e", "flowers-ep")
    assert "receives mirrored traffic" in failed(
        "deployment", "delete", "green", "-e", "flowers-ep"
    )
    ok("endpoint", "update", "flowers-ep", "--mirror-traffic", "green=0")
    assert ok("deployment", "delete", "green", "-e", "flowers-ep").startswith("deleted deployment")
    gone = json.loads(ok("endpoint", "delete", "flowers-ep", "-o", "json"))
    assert gone == {"deleted": "flowers-ep", "deployments": ["blue"]}
    assert "no endpoint 'flowers-ep'" in failed("endpoint", "show", "flowers-ep", "-o", "json")


def test_file_errors_name_file_line_and_fix(files):
    bad = files / "bad.yml"
    bad.write_text("name: flowers-ep\nauth_mod: key\ntrafic: {}\n")
    stderr = failed("endpoint", "create", "--file", bad)
    assert f"{bad}:2: $.auth_mod: unknown key; did you mean 'auth_mode'?" in stderr
    assert f"{bad}:3: $.trafic: unknown key; did you mean 'traffic'?" in stderr


def test_traffic_errors(files):
    ok("endpoint", "create", "--file", files / "flowers-ep.yml")
    ok("deployment", "create", "-f", files / "blue.yml", "--all-traffic")
    assert "sum to 90" in failed("endpoint", "update", "flowers-ep", "--traffic", "blue=90")
    stderr = failed("endpoint", "update", "flowers-ep", "--traffic", "blue=90 gren=10")
    assert "no deployment 'gren'" in stderr
    assert "nothing to change" in failed("endpoint", "update", "flowers-ep", code=2)
    stderr = failed("deployment", "create", "-f", files / "green.yml", "-e", "flowers-ex")
    assert "no endpoint 'flowers-ex'; did you mean 'flowers-ep'?" in stderr
