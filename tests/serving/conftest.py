"""The session's trained tiny models (shared helper in tests/predict/trained_packages.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))

from http_server import ServerThread  # noqa: E402
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


@pytest.fixture(scope="module")
def classification_predictor(classification_run):
    import torch

    from automl.engine.predict import Predictor

    torch.set_num_threads(1)
    return Predictor.from_package(classification_run / "best_model")


@pytest.fixture(scope="module")
def endpoint(classification_predictor):
    """The classification endpoint with key auth, max batch 8, a 2 MB body limit."""
    from automl.engine.serving import create_app

    app = create_app(
        classification_predictor,
        auth_key="secret-key",
        max_batch_size=8,
        max_body_bytes=2 * 1024 * 1024,
    )
    with ServerThread(app) as server:
        yield server
