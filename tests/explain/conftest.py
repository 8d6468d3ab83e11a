"""Tiny trained classifiers, trained once per session, for the explanation tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BUNDLED_DATA_DIR = Path(__file__).resolve().parents[2] / "examples" / "data"

# The tiny models are trained once per session for every test folder that needs them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))

from trained_packages import shared_base, trained_run  # noqa: E402


@pytest.fixture(scope="session")
def multiclass_run(tmp_path_factory) -> Path:
    """Run directory of a tiny multi-class model (`automl job create`, flowers5)."""
    return trained_run(shared_base(tmp_path_factory), "image_classification")


@pytest.fixture(scope="session")
def multilabel_run(tmp_path_factory) -> Path:
    """Run directory of a tiny multi-label model (`automl job create`, chess_multilabel)."""
    return trained_run(shared_base(tmp_path_factory), "image_classification_multilabel")


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
