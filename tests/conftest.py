"""Shared test set-up: isolated state dirs, GPU tests skipped without CUDA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO_ROOT / "examples"
BUNDLED_DATA_DIR = EXAMPLES_DIR / "data"


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    """Registry, caches and weights never touch the user's home during tests."""
    home = tmp_path_factory.getbasetemp() / "automl_home"
    monkeypatch.setenv("AUTOML_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("NO_COLOR", "1")


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def _cuda_available() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: cli(["job", "validate", ...]) -> (exit_code, stdout, stderr)."""
    from automl.cli.main import run

    def invoke(args: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
