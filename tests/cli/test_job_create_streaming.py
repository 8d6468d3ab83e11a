"""`automl job create` on images behind URLs (a loopback HTTP server), with and without
stream_image_files: requests are counted at the server."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "flowers5"
_spec = importlib.util.spec_from_file_location(
    "remote_helpers", Path(__file__).resolve().parents[1] / "data" / "test_remote.py"
)
remote_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(remote_helpers)

JOB = """\
type: automl
task: image_classification
target_column_name: label
training_data: {{type: mltable, path: ./train}}
validation_data: {{type: mltable, path: ./valid}}
limits: {{max_trials: 1}}
training_parameters:
  model_name: test_tiny_cnn
  pretrained: false
  number_of_epochs: 2
  training_batch_size: 8
  validation_batch_size: 16
  training_crop_size: 32
  validation_resize_size: 36
  validation_crop_size: 32
  number_of_workers: 0
  random_seed: 1
  advanced_settings: '{settings}'
"""


def remote_table(folder: Path, server, side: str, n: int) -> None:
    """`n` rows of flowers5/<side> (every class) with image_url on the server, signed."""
    rows = [json.loads(line) for line in (DATA / side / "annotations.jsonl").read_text().split()]
    rows = rows[:: max(1, len(rows) // n)][:n]
    folder.mkdir(parents=True)
    lines = [
        json.dumps(
            {
                "image_url": f"{server.base_url}/{side}/{r['image_url']}?sig=SECRET",
                "label": r["label"],
            }
        )
        for r in rows
    ]
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "MLTable").write_text("paths:\n  - file: ./a.jsonl\n")


@pytest.fixture
def job(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_HOME", str(tmp_path / "home"))  # a cold cache per test
    server = remote_helpers.ImageServer(DATA).__enter__()
    remote_table(tmp_path / "train", server, "train", 16)
    remote_table(tmp_path / "valid", server, "valid", 8)

    def write(settings: dict) -> Path:
        path = tmp_path / "job.yml"
        path.write_text(JOB.format(settings=json.dumps(settings)))
        return path

    yield write, server
    server.__exit__()


def run(cli, job_file: Path, run_dir: Path) -> dict:
    code, out, err = cli(
        ["job", "create", "--file", job_file, "--run-dir", run_dir, "--output", "json"]
    )
    assert code == 0, err + out
    summary = json.loads(out)
    assert summary["status"] == "completed", summary
    assert summary["trials"][0]["epochs_completed"] == 2
    return summary


def assert_no_secret(run_dir: Path) -> None:
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".log", ".yml", ".csv"):
            assert "SECRET" not in path.read_text(errors="replace"), path
    manifest = run_dir / "data" / "train.jsonl"
    assert os.stat(manifest).st_mode & 0o077 == 0  # signed URLs: private to the user


def test_job_without_streaming_fetches_everything_before_training(tmp_path, cli, job):
    write, server = job
    run_dir = tmp_path / "run"
    run(cli, write({}), run_dir)
    assert sum(server.gets.values()) == 24  # each image once, at prepare; trials hit the cache
    split = json.loads((run_dir / "data" / "split.json").read_text())
    assert split["remote_images"]["images"] == 24
    assert split["remote_images"]["stream_image_files"] is False
    assert_no_secret(run_dir)


def test_job_with_streaming_reads_each_image_once_over_two_epochs(tmp_path, cli, job):
    write, server = job
    run_dir = tmp_path / "run"
    run(cli, write({"stream_image_files": True}), run_dir)
    assert len(server.heads) == 24  # existence checked at prepare
    assert sum(server.gets.values()) == 24  # read in epoch 1; epoch 2 read the cache
    assert_no_secret(run_dir)


def test_job_streams_through_a_cache_smaller_than_the_dataset(tmp_path, cli, job):
    write, server = job
    run_dir = tmp_path / "run"
    run(cli, write({"stream_image_files": True, "image_cache_size": 60000}), run_dir)
    assert sum(server.gets.values()) > 24  # evicted images were read again
    cache = tmp_path / "home" / "cache" / "images"
    assert json.loads((cache / "config.json").read_text()) == {"max_bytes": 60000}
    used = sum(p.stat().st_size for p in (cache / "blobs").rglob("*") if p.is_file())
    assert used <= 60000
