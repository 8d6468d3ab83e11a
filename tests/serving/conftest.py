"""The session's tiny trained models (`classification_run`, `multilabel_run`) are in
tests/conftest.py."""

from __future__ import annotations

import pytest
from _support.http_server import ServerThread


@pytest.fixture
def registry(tmp_path):
    from automl.engine.registry import ModelRegistry

    return ModelRegistry(tmp_path / "home")


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
