"""The registry refuses what a package must not hold, cleans up after interrupted commands,
survives a corrupt database, and downloads only into new or empty folders."""

from __future__ import annotations

import json
import os
import sqlite3
import time

import pytest
import torch

from automl.engine.errors import AutomlError, LimitError
from automl.engine.models import build_detection_model, build_model, write_model_package
from automl.engine.registry import (
    ModelRegistryError,
    PackageTreeError,
    download_package,
    register_package,
)
from automl.engine.registry._cleanup import MARKER_FILE, host_tag

PARAMS = {"validation_resize_size": 40, "validation_crop_size": 32, "training_crop_size": 32}


@pytest.fixture
def package(tmp_path):
    return write_model_package(
        tmp_path / "cnn",
        build_model("test_tiny_cnn", 3, pretrained=False),
        task="image_classification",
        model_name="test_tiny_cnn",
        labels=["a", "b", "c"],
        training_parameters=PARAMS,
    )


def hidden_entries(registry) -> list[str]:
    return sorted(p.name for p in registry.packages_dir.iterdir() if p.name.startswith("."))


def digests(registry) -> list[str]:
    return sorted(p.name for p in registry.packages_dir.iterdir() if not p.name.startswith("."))


# ---- what a package may hold (issue 19) ---------------------------------------------------


def test_symlink_in_a_package_is_refused_naming_it(registry, package, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the registry")
    os.symlink(secret, package / "notes.txt")
    with pytest.raises(PackageTreeError, match="notes.txt: a symbolic link"):
        register_package("linked", package, registry=registry)
    assert not registry.packages_dir.exists() or not digests(registry)


def test_symlinked_model_file_is_refused(registry, package, tmp_path):
    os.replace(package / "model.pt", tmp_path / "elsewhere.pt")
    os.symlink(tmp_path / "elsewhere.pt", package / "model.pt")
    with pytest.raises(PackageTreeError, match="model.pt: a symbolic link"):
        register_package("linked", package, registry=registry)


def test_fifo_in_a_package_is_refused(registry, package):
    os.mkfifo(package / "pipe")
    with pytest.raises(PackageTreeError, match="pipe: not a regular file or folder"):
        register_package("fifo", package, registry=registry)


def test_package_file_count_and_size_limits(registry, package, monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_PACKAGE_FILES", "3")
    with pytest.raises(LimitError, match="(?s)more than 3 files.*AUTOML_MAX_PACKAGE_FILES"):
        register_package("many", package, registry=registry)
    monkeypatch.delenv("AUTOML_MAX_PACKAGE_FILES")
    monkeypatch.setenv("AUTOML_MAX_PACKAGE_BYTES", "1000")
    with pytest.raises(LimitError, match="(?s)limit of 1,000 bytes.*AUTOML_MAX_PACKAGE_BYTES"):
        register_package("big", package, registry=registry)


def test_register_refuses_a_yolo_package_with_code_in_its_yaml(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics_config"))
    folder = write_model_package(
        tmp_path / "yolo",
        build_detection_model("test_tiny_yolo", 2, pretrained=False, settings={}),
        task="image_object_detection",
        model_name="test_tiny_yolo",
        labels=["a", "b"],
        training_parameters={
            "image_size": 64,
            "model_size": "small",
            "box_score_threshold": 0.2,
            "nms_iou_threshold": 0.4,
        },
    )
    record = torch.load(folder / "model.pt", weights_only=True)
    record["model_yaml"]["activation"] = "__import__('os').getpid() and nn.SiLU()"
    torch.save(record, folder / "model.pt")
    with pytest.raises(AutomlError, match=r"model_yaml\['activation'\]"):
        register_package("evil-yolo", folder, registry=registry)


def test_register_refuses_malformed_settings(registry, package):
    (package / "settings.json").write_text('{"valid_crop_size": 0}')
    with pytest.raises(AutomlError, match="settings.json: valid_crop_size=0"):
        register_package("bad-settings", package, registry=registry)


# ---- interrupted registers and deletes (issue 8) -----------------------------------------


def test_next_write_removes_stale_staging_and_unreferenced_packages(registry, package):
    register_package("keep", package, registry=registry)
    kept = digests(registry)
    dead = registry.packages_dir / f".staging.{host_tag()}.999999999.abc"  # no such PID
    live = registry.packages_dir / f".staging.{host_tag()}.{os.getpid()}.def"
    legacy = registry.packages_dir / ".0123456789ab.xyz"  # an earlier version's staging
    orphan = registry.packages_dir / ("f" * 64)
    for folder in (dead, live, legacy, orphan):
        folder.mkdir()
        (folder / "model.pt").write_bytes(b"x" * 1000)
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    register_package("keep", package, registry=registry)
    assert hidden_entries(registry) == [MARKER_FILE, live.name]
    assert digests(registry) == kept


def test_deleting_the_last_reference_removes_the_package(registry, package):
    register_package("a", package, registry=registry)
    register_package("b", package, registry=registry)
    (digest,) = digests(registry)
    registry.delete("a", "1")
    assert digests(registry) == [digest]
    registry.delete("b")
    assert digests(registry) == []


def test_a_new_database_beside_old_packages_keeps_them(registry, package):
    """Moving a corrupt registry.db aside must not make the next register delete every
    package the old database referenced."""
    register_package("old", package, registry=registry)
    (digest,) = digests(registry)
    registry.db_path.rename(registry.db_path.with_suffix(".bad"))
    (package / "notes.txt").write_text("another content")
    register_package("new", package, registry=registry)
    assert digest in digests(registry) and len(digests(registry)) == 2


def test_a_register_that_fails_leaves_no_staging(registry, package):
    register_package("taken", package, registry=registry, version="v1")
    with pytest.raises(ModelRegistryError, match="already registered"):
        register_package("taken", package, registry=registry, version="v1")
    assert hidden_entries(registry) == [MARKER_FILE]


# ---- database and names -------------------------------------------------------------------


def test_corrupt_database_is_one_line(registry, package):
    registry.home.mkdir(parents=True, exist_ok=True)
    registry.db_path.write_bytes(b"this is not a database" * 100)
    calls = (registry.list, lambda: register_package("x", package, registry=registry))
    for call in calls:
        with pytest.raises(ModelRegistryError, match="not a usable registry database") as caught:
            call()
        assert "\n" not in caught.value.message and "mv " in caught.value.hint


def test_a_digest_that_is_a_path_is_never_used(registry, package, tmp_path):
    register_package("m", package, registry=registry)
    victim = tmp_path / "victim"
    victim.mkdir()
    with sqlite3.connect(registry.db_path) as db:
        db.execute("UPDATE versions SET digest = ?", (f"../../{victim.name}",))
    with pytest.raises(ModelRegistryError, match="malformed package digest"):
        registry.get("m")
    registry.delete("m")
    assert victim.is_dir()


def test_bad_version_strings_are_refused_before_copying(registry, package):
    for version in ("../x", "latest", "a/b", ""):
        with pytest.raises(ModelRegistryError, match="is not allowed"):
            register_package("m", package, registry=registry, version=version)
    assert not registry.packages_dir.exists() or digests(registry) == []


def test_tags_and_lineage_that_are_not_json_objects_read_as_empty(registry, package):
    register_package("m", package, registry=registry, tags={"k": "v"})
    with sqlite3.connect(registry.db_path) as db:
        db.execute("UPDATE versions SET tags = ?, lineage = ?", ("[1", json.dumps([1])))
    entry = registry.get("m")
    assert entry.tags == {} and entry.lineage == {}


# ---- download (issue 17) -------------------------------------------------------------------


def test_download_into_an_existing_file_or_full_folder_is_refused(registry, package, tmp_path):
    register_package("m", package, registry=registry)
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    with pytest.raises(AutomlError, match="file.txt: exists and is not a folder"):
        download_package("m", existing, registry=registry)
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    with pytest.raises(AutomlError, match="full: folder exists and is not empty"):
        download_package("m", full, registry=registry)
    assert existing.read_text() == "x" and [p.name for p in full.iterdir()] == ["x"]


def test_download_into_new_and_empty_folders(registry, package, tmp_path):
    register_package("m", package, registry=registry)
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (tmp_path / "new" / "deep", empty):
        entry = download_package("m:1", target, registry=registry)
        assert entry.ref == "m:1"
        assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in package.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
