"""Each test of run management gets its own index of runs ($AUTOML_HOME/runs.db)."""

import pytest


@pytest.fixture(autouse=True)
def _own_runs_index(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_HOME", str(tmp_path / "automl_home"))
