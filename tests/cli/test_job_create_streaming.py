"""`automl job create` on images behind URLs (a loopback HTTP server), with and without
stream_image_files: requests are counted at the server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _support.image_server import ImageServer
from _support.jobs import write_job
from _support.paths import BUNDLED_DATA_DIR

DATA = BUNDLED_DATA_DIR / "flowers5"


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
    server = ImageServer(DATA).__enter__()
    remote_table(tmp_path / "train", server, "train", 16)
    remote_table(tmp_path / "valid", server, "valid", 8)

    def write(settings: dict) -> Path:
        return write_job(tmp_path, data=tmp_path, epochs=2, training_batch_size=8,
                         advanced_settings=json.dumps(settings))  # fmt: skip

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
