"""Bounded reads: non-regular files and files over their limit are clear errors."""

from __future__ import annotations

import os

import pytest

from automl.engine.errors import AutomlError, ConfigError, LimitError
from automl.engine.utils.files import read_bytes_bounded, read_text_bounded
from automl.schemas import limit, limit_hint, limit_names, limit_spec


def test_device_is_refused_before_reading():
    with pytest.raises(AutomlError, match="not a regular file"):
        read_bytes_bounded("/dev/zero", "job_file_bytes", "job file")


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(AutomlError, match="not a regular file"):
        read_text_bounded(fifo, "job_file_bytes", "job file")


def test_file_over_the_limit_names_the_variable(tmp_path, monkeypatch):
    path = tmp_path / "job.yml"
    path.write_text("x" * 100)
    monkeypatch.setenv("AUTOML_MAX_JOB_FILE_BYTES", "10")
    with pytest.raises(LimitError, match="limit of 10 bytes") as info:
        read_text_bounded(path, "job_file_bytes", "job file")
    assert "AUTOML_MAX_JOB_FILE_BYTES" in str(info.value)


def test_file_at_the_limit_is_read(tmp_path, monkeypatch):
    path = tmp_path / "job.yml"
    path.write_text("é" * 5)  # 10 bytes of UTF-8
    monkeypatch.setenv("AUTOML_MAX_JOB_FILE_BYTES", "10")
    assert read_text_bounded(path, "job_file_bytes", "job file") == "é" * 5


def test_bad_limit_value_is_a_config_error(monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_JOB_FILE_BYTES", "lots")
    with pytest.raises(ConfigError, match="AUTOML_MAX_JOB_FILE_BYTES"):
        limit("job_file_bytes")


def test_every_limit_is_documented_and_positive():
    for name in limit_names():
        spec = limit_spec(name)
        assert spec["env"].startswith("AUTOML_MAX_"), name
        assert spec["description"], name
        assert int(spec["default"]) >= 1, name
        assert spec["env"] in limit_hint(name)
