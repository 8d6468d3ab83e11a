"""Killed `model register` commands leave nothing behind for long: the next registry
write removes their staging folders and unreferenced packages; `model download` into an
existing file is a one-line error. Run through the installed console script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from automl.engine.models import build_model, write_model_package

AUTOML = str(Path(sys.executable).with_name("automl"))
PARAMS = {"validation_resize_size": 40, "validation_crop_size": 32, "training_crop_size": 32}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


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


def automl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AUTOML, *args], capture_output=True, text=True, timeout=120)


def start_register(package: Path, patch: str) -> subprocess.Popen:
    """`register_package` in a child process with `patch` applied first."""
    script = textwrap.dedent(
        f"""
        import os, signal, time
        from automl.engine.registry import _files, _store, register_package
        {patch}
        register_package("victim", {str(package)!r})
        """
    )
    return subprocess.Popen([sys.executable, "-c", script])


def entries(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "packages").iterdir() if p.name != ".registry-id")


def wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_during_copy_leaves_staging_that_the_next_register_removes(home, package):
    slow_copy = textwrap.indent(
        textwrap.dedent(
            """
            copy = _files.copy_regular_file
            def slow(source, target):
                copy(source, target)
                time.sleep(60)
            _files.copy_regular_file = slow
            """
        ),
        " " * 8,
    )
    child = start_register(package, slow_copy)
    packages = home / "packages"
    wait_for(lambda: any(packages.glob(".staging.*/*")))
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert [n for n in entries(home) if n.startswith(".staging.")]
    result = automl("model", "register", "--name", "next", "--path", str(package))
    assert result.returncode == 0, result.stderr
    assert all(not name.startswith(".") for name in entries(home))
    assert len(entries(home)) == 1


@pytest.mark.slow
def test_kill_between_rename_and_commit_leaves_a_package_the_next_write_removes(home, package):
    die_before_commit = textwrap.indent(
        textwrap.dedent(
            """
            def die(*args, **kwargs):
                os.kill(os.getpid(), signal.SIGKILL)
            _store.ModelRegistry._insert_version = die
            """
        ),
        " " * 8,
    )
    (package / "extra.txt").write_text("makes this content unique")
    child = start_register(package, die_before_commit)
    assert child.wait(timeout=120) == -signal.SIGKILL
    (orphan,) = entries(home)
    assert len(orphan) == 64
    assert automl("model", "list").returncode == 0  # a read: nothing removed
    assert entries(home) == [orphan]
    (package / "extra.txt").unlink()
    result = automl("model", "register", "--name", "other", "--path", str(package))
    assert result.returncode == 0, result.stderr
    assert orphan not in entries(home) and len(entries(home)) == 1


def test_delete_of_the_last_version_removes_its_package(home, package):
    assert automl("model", "register", "--name", "m", "--path", str(package)).returncode == 0
    assert len(entries(home)) == 1
    result = automl("model", "delete", "m:1")
    assert result.returncode == 0, result.stderr
    assert entries(home) == []


def test_download_to_an_existing_file_is_one_line(home, package, tmp_path):
    """Issue 17: a NotADirectoryError traceback."""
    assert automl("model", "register", "--name", "m", "--path", str(package)).returncode == 0
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    result = automl("model", "download", "m", "--output-dir", str(target))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {target}: exists and is not a folder")
    assert target.read_text() == "keep me"
    folder = tmp_path / "copy"
    result = automl("model", "download", "m", "--output-dir", str(folder))
    assert result.returncode == 0 and (folder / "model.pt").is_file()


def test_register_of_a_folder_with_a_symlink_is_one_line(home, package, tmp_path):
    """Issue 19: links were followed and their targets copied into the registry."""
    (tmp_path / "secret").write_text("private")
    os.symlink(tmp_path / "secret", package / "secret")
    result = automl("model", "register", "--name", "m", "--path", str(package))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{package / 'secret'}: a symbolic link" in result.stderr
    assert not (home / "packages").exists() or entries(home) == []
