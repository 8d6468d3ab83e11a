"""Endpoints and deployments: Azure's files, a state home per test, the session's tiny
trained model registered as two versions (shared helper in tests/predict/trained_packages.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))

from trained_packages import shared_base, trained_run  # noqa: E402


@pytest.fixture(scope="session")
def classification_run(tmp_path_factory):
    return trained_run(shared_base(tmp_path_factory), "image_classification")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """This test's own AUTOML_HOME (endpoint state and registry)."""
    folder = tmp_path / "home"
    monkeypatch.setenv("AUTOML_HOME", str(folder))
    return folder


@pytest.fixture
def flowers(home, classification_run):
    """The tiny model registered twice: flowers:1 and flowers:2 (latest)."""
    from automl.engine.registry import ModelRegistry, register_package

    registry = ModelRegistry(home)
    for _ in range(2):
        register_package("flowers", classification_run / "best_model", registry=registry)
    return registry
