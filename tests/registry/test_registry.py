"""The SQLite registry: versions, labels, lineage, deletion, concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from automl.engine.errors import AutomlError
from automl.engine.registry import (
    ModelRegistryError,
    package_digest,
    parse_model_ref,
    register_package,
    resolve_model_ref,
)


def test_register_records_lineage_from_the_run(registry, classification_run):
    entry = register_package(
        "flowers",
        classification_run / "best_model",
        registry=registry,
        tags={"team": "vision"},
        description="tiny",
    )
    assert entry.ref == "flowers:1" and entry.labels == ["latest"]
    assert entry.task == "image_classification" and entry.model_name == "test_tiny_cnn"
    lineage = entry.lineage
    summary = json.loads((classification_run / "summary.json").read_text())
    assert lineage["job"] == summary["name"] and lineage["trial"] == 0
    assert lineage["score"] == summary["best_trial"]["score"]
    assert len(lineage["job_file_sha256"]) == 64
    assert set(lineage["data_manifests"]) == {"train.jsonl", "valid.jsonl"}
    assert lineage["packages"]["torch"] and "accuracy" in lineage["metrics"]
    assert lineage["training_parameters"]["model_name"] == "test_tiny_cnn"
    assert (entry.path / "model.pt").is_file() and entry.path.name == entry.digest
    assert package_digest(entry.path) == entry.digest
    assert entry.tags == {"team": "vision"} and entry.description == "tiny"


def test_versions_labels_and_latest(registry, classification_run):
    package = classification_run / "best_model"
    first = register_package("m", package, registry=registry)
    second = register_package("m", package, registry=registry, version="v2")
    third = register_package("m", package, registry=registry)
    assert [first.version, second.version, third.version] == ["1", "v2", "2"]
    assert first.digest == third.digest  # same content, stored once
    assert registry.get("m").version == "2" and registry.get("m", label="latest").version == "2"
    registry.set_label("m", "1", "production")
    assert registry.get("m", label="production").version == "1"
    registry.set_label("m", "v2", "production")  # a label moves
    assert registry.get("m", label="production").version == "v2"
    assert registry.get("m", "v2").labels == ["production"]
    with pytest.raises(ModelRegistryError, match="already registered"):
        register_package("m", package, registry=registry, version="v2")
    with pytest.raises(ModelRegistryError, match="no label 'staging'"):
        registry.get("m", label="staging")
    with pytest.raises(ModelRegistryError, match="no version '9'"):
        registry.get("m", "9")
    with pytest.raises(ModelRegistryError, match="did you mean 'm'"):
        registry.get("mm")


def test_delete_removes_unused_packages_only(registry, classification_run):
    package = classification_run / "best_model"
    first = register_package("a", package, registry=registry)
    register_package("b", package, registry=registry)
    assert registry.delete("a", "1") == ["a:1"]
    assert first.path.is_dir()  # b:1 still uses the same content
    assert registry.delete("b") == ["b:1"]
    assert not first.path.exists() and registry.list() == []


def test_refs_resolve_to_package_folders(registry, classification_run, monkeypatch):
    monkeypatch.setenv("AUTOML_HOME", str(registry.home))
    entry = register_package("flowers", classification_run / "best_model")
    assert resolve_model_ref("flowers") == entry.path
    assert resolve_model_ref("flowers:1") == entry.path
    assert resolve_model_ref("flowers@latest") == entry.path
    assert resolve_model_ref(str(classification_run)) == classification_run / "best_model"
    assert parse_model_ref("a.b-c@prod") == ("a.b-c", None, "prod")
    with pytest.raises(ModelRegistryError, match="NAME:VERSION"):
        parse_model_ref("bad name:1:2")


def test_a_job_name_resolves_from_any_folder(classification_run, tmp_path, monkeypatch):
    """`automl model predict my-job` from cron, whose folder is not the user's: the index of
    runs knows where the job's run directory is."""
    from automl.engine.registry.run_index import RunIndex

    monkeypatch.setenv("AUTOML_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no ./runs here
    with pytest.raises(ModelRegistryError):
        resolve_model_ref("cron-job")
    RunIndex().claim(["cron-job"], lambda name, row: classification_run)
    assert resolve_model_ref("cron-job") == (classification_run / "best_model").resolve()
    with pytest.raises(ModelRegistryError):
        resolve_model_ref("cron-job:2")  # a version is a registry reference only


def test_register_refuses_a_folder_without_a_model(registry, tmp_path):
    with pytest.raises(ModelRegistryError, match="no model package"):
        register_package("x", tmp_path, registry=registry)


def test_register_never_unpickles_code(registry, tmp_path):
    """A model.pt holding arbitrary objects is refused by torch.load(weights_only=True)."""
    import pickle

    marker = tmp_path / "executed"
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"

    class Exploit:
        def __reduce__(self):
            return (eval, (payload,))

    (tmp_path / "pkg").mkdir()
    with open(tmp_path / "pkg" / "model.pt", "wb") as handle:
        pickle.dump({"format_version": 1, "x": Exploit()}, handle)
    with pytest.raises(AutomlError, match="objects other than tensors") as caught:
        register_package("evil", tmp_path / "pkg", registry=registry)
    assert not marker.exists()
    assert "weights_only" not in str(caught.value) and "\n" not in caught.value.message


def test_two_processes_register_at_once(registry, classification_run):
    script = textwrap.dedent(
        f"""
        from automl.engine.registry import ModelRegistry, register_package
        registry = ModelRegistry({str(registry.home)!r})
        for _ in range(6):
            register_package("shared", {str(classification_run / "best_model")!r},
                             registry=registry)
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    versions = sorted(int(entry.version) for entry in registry.list("shared"))
    assert versions == list(range(1, 13))
