"""Train/validation leakage never blocks a job: a warning naming the lines, the leaked
copies left out of validation scoring, and their count in summary.json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from _support.jobs import write_job
from _support.paths import AUTOML, BUNDLED_DATA_DIR

FLOWERS = BUNDLED_DATA_DIR / "flowers5"


def _leaky_validation(tmp_path: Path, n_leaked: int) -> Path:
    """The bundled validation set plus `n_leaked` training images (absolute paths)."""
    train_lines = (FLOWERS / "train" / "annotations.jsonl").read_text().splitlines()
    valid_lines = (FLOWERS / "valid" / "annotations.jsonl").read_text().splitlines()
    folder = tmp_path / "valid"
    folder.mkdir()
    rows = []
    for line in valid_lines:
        rows.append(
            json.loads(line) | {"image_url": str(FLOWERS / "valid" / json.loads(line)["image_url"])}
        )
    for line in train_lines[:n_leaked]:
        rows.append(
            json.loads(line) | {"image_url": str(FLOWERS / "train" / json.loads(line)["image_url"])}
        )
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "MLTable").write_text(
        "paths:\n  - file: ./annotations.jsonl\ntransformations:\n  - read_json_lines:\n"
        "      encoding: utf8\n"
    )
    return folder


@pytest.mark.slow
def test_leaked_images_warn_and_are_counted_but_never_block(tmp_path):
    valid = _leaky_validation(tmp_path, n_leaked=3)
    job = write_job(tmp_path, validation_data=valid)
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [AUTOML, "job", "create", "--file", str(job), "--run-dir", str(run_dir), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "AUTOML_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "leak" in result.stderr.lower() or "training" in result.stderr.lower()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["data"]["leaked_validation_images"] == 3
    assert summary["data"]["validation_images"] == 50  # the 3 copies are not scored
