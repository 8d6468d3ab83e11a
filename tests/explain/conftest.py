"""Tiny trained classifiers, trained once per session, for the explanation tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _support.paths import BUNDLED_DATA_DIR


# The tiny models are trained once per session (tests/conftest.py) for every test folder.
@pytest.fixture(scope="session")
def multiclass_run(classification_run) -> Path:
    """Run directory of a tiny multi-class model (`automl job create`, flowers5)."""
    return classification_run


@pytest.fixture(scope="session")
def crop_size(multiclass_run) -> int:
    """valid_crop_size of the tiny models: the side of every attribution array."""
    settings = json.loads((multiclass_run / "best_model" / "settings.json").read_text())
    return int(settings["valid_crop_size"])


@pytest.fixture(scope="session")
def multiclass_predictor(multiclass_run):
    from automl.engine.predict import Predictor

    return Predictor.from_package(multiclass_run / "best_model")


@pytest.fixture(scope="session")
def multilabel_predictor(multilabel_run):
    from automl.engine.predict import Predictor

    return Predictor.from_package(multilabel_run / "best_model")


@pytest.fixture(scope="session")
def flower_image():
    """One real validation image of flowers5 (not square: resize + crop matter)."""
    from automl.engine.data.images import load_image_rgb

    path = sorted((BUNDLED_DATA_DIR / "flowers5" / "valid").rglob("*.jpg"))[0]
    return load_image_rgb(path)


@pytest.fixture(scope="session")
def chess_image():
    from automl.engine.data.images import load_image_rgb

    path = sorted((BUNDLED_DATA_DIR / "chess_multilabel" / "valid").rglob("*.jpg"))[0]
    return load_image_rgb(path)


@pytest.fixture(autouse=True)
def _one_thread():
    """Two cores are shared by several test runs: one torch thread per test process."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
