"""Shared test set-up: isolated state dirs, GPU tests skipped without CUDA, each xdist
worker on its own share of the CPUs, the longest tests first, the session's tiny models.

Helpers shared by several test folders live in tests/_support (imported as `_support`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config):
    _own_share_of_the_cpus()


def _own_share_of_the_cpus() -> None:
    """Under pytest-xdist, worker i of n runs on CPUs i, i+n, ... of those it may use (on 2
    cores and `-n 2`: one core each), and so does everything it starts. Torch and the trials
    the controller starts size their thread pools from that share (the controller splits
    the CPUs it may use between its trial slots), so two workers' training threads never
    wait on each other: oversubscribed OpenMP threads spin, and a tiny epoch took 10x longer.
    """
    worker, count = (
        os.environ.get("PYTEST_XDIST_WORKER"),
        os.environ.get("PYTEST_XDIST_WORKER_COUNT"),
    )
    if not (worker and count and hasattr(os, "sched_setaffinity")):
        return
    cpus, index, n_workers = sorted(os.sched_getaffinity(0)), int(worker[2:]), int(count)
    share = cpus[index::n_workers] or [cpus[index % len(cpus)]]
    os.sched_setaffinity(0, share)


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    """Registry, caches and weights never touch the user's home during tests."""
    home = tmp_path_factory.getbasetemp() / "automl_home"
    monkeypatch.setenv("AUTOML_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("NO_COLOR", "1")


def pytest_collection_modifyitems(config, items):
    # The slow tests first: `make test` hands modules to the xdist workers in this order
    # (--dist loadscope --no-loadscope-reorder), so no module with a long test starts last.
    items.sort(key=lambda item: "slow" not in item.keywords)
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def _cuda_available() -> bool:
    from automl.engine.utils.gpus import cuda_may_be_present

    if not cuda_may_be_present():  # no driver: no torch import (seconds) per worker
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


@pytest.fixture(scope="session")
def classification_run(tmp_path_factory) -> Path:
    """Run directory of the session's tiny multi-class model (flowers5), trained once."""
    from _support.trained import shared_base, trained_run

    return trained_run(shared_base(tmp_path_factory), "image_classification")


@pytest.fixture(scope="session")
def multilabel_run(tmp_path_factory) -> Path:
    """Run directory of the session's tiny multi-label model (chess_multilabel)."""
    from _support.trained import shared_base, trained_run

    return trained_run(shared_base(tmp_path_factory), "image_classification_multilabel")
