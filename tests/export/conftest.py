"""The session's trained tiny models (shared helper in tests/predict/trained_packages.py)."""

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
def registry(tmp_path):
    from automl.engine.registry import ModelRegistry

    return ModelRegistry(tmp_path / "home")


@pytest.fixture(scope="session")
def multilabel_run(tmp_path_factory):
    return trained_run(shared_base(tmp_path_factory), "image_classification_multilabel")
