"""Endpoints and deployments: Azure's files, a state home per test, the session's tiny
trained model (tests/conftest.py `classification_run`) registered as two versions.
"""

from __future__ import annotations

from pathlib import Path

import pytest


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
