"""Trained tiny models (one per classification task, shared by the session)."""

from __future__ import annotations

import pytest
from trained_packages import shared_base, trained_run


@pytest.fixture(scope="session")
def classification_run(tmp_path_factory):
    return trained_run(shared_base(tmp_path_factory), "image_classification")


@pytest.fixture(scope="session")
def multilabel_run(tmp_path_factory):
    return trained_run(shared_base(tmp_path_factory), "image_classification_multilabel")
