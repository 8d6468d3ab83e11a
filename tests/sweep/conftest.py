"""Fixtures for sweep tests: a stand-in job, tiny manifests and the fake trial runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_stubs import FAKE_TRIAL, StubData, StubJob, stub_resolver, write_manifests


@pytest.fixture
def data(tmp_path) -> StubData:
    return write_manifests(tmp_path / "data")


@pytest.fixture
def sweep_job():
    """Build a StubJob for a manual sweep: sweep_job(search_space, sweep, **limits)."""

    def make(search_space, sweep, *, name="job", fixed=None, **limits) -> StubJob:
        resolved = {
            "limits": {"max_trials": 4, "max_concurrent_trials": 1, **limits},
            "sweep": sweep,
            "search_space": search_space,
        }
        return StubJob(
            mode="sweep", resolved=resolved, user_training_parameters=fixed or {}, name=name
        )

    return make


@pytest.fixture
def run(monkeypatch):
    """run(job, run_dir, data, **kwargs): run_job with the fake trial and stub resolver."""
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("FAKE_TRIAL_EPOCH_S", "0.05")

    def invoke(job, run_dir, data, **kwargs):
        from automl.engine.sweep import run_job

        kwargs.setdefault("trial_module", FAKE_TRIAL)
        if "resolve_parameters" not in kwargs:
            kwargs["resolve_parameters"] = stub_resolver  # None: the real config resolver
        kwargs.setdefault("gpus", [])
        return run_job(job, Path(run_dir), data, **kwargs)

    return invoke
