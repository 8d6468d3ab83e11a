"""Train/validation leakage never blocks a job: a warning naming the lines, the leaked
copies left out of validation scoring, and their count in summary.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FLOWERS = Path(__file__).resolve().parents[2] / "examples" / "data" / "flowers5"
AUTOML = str(Path(sys.executable).with_name("automl"))

JOB = """\
type: automl
task: image_classification
target_column_name: label
training_data: {{type: mltable, path: {train}}}
validation_data: {{type: mltable, path: {valid}}}
training_parameters:
  model_name: test_tiny_cnn
  pretrained: false
  number_of_epochs: 1
  training_batch_size: 16
  training_crop_size: 32
  validation_resize_size: 36
  validation_crop_size: 32
  number_of_workers: 0
"""


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
    job = tmp_path / "job.yml"
    job.write_text(JOB.format(train=FLOWERS / "train", valid=valid))
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
