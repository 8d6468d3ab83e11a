"""Fixtures for config tests: write a job next to local data folders."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def write_job(tmp_path: Path):
    """write_job(text) -> path of job.yml in a folder that also has train/ and valid/."""
    (tmp_path / "train").mkdir(exist_ok=True)
    (tmp_path / "valid").mkdir(exist_ok=True)

    def write(text: str, name: str = "job.yml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
