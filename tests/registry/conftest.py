"""The session's tiny trained models (`classification_run`, `multilabel_run`) are in
tests/conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def registry(tmp_path):
    from automl.engine.registry import ModelRegistry

    return ModelRegistry(tmp_path / "home")
