"""Streaming: data loaders read remote images on demand through the bounded cache."""

from __future__ import annotations

import json

import fsspec
import pytest
import torch
from _support.image_server import ImageServer
from torch.utils.data import DataLoader

from automl.engine.data import cache as cache_module
from automl.engine.data import streaming
from automl.engine.data.datasets import ClassificationDataset
from automl.engine.data.reader import read_dataset
from automl.engine.errors import DataError

from .test_remote import BUNDLED, FAST, image_files

TRAIN = BUNDLED / "flowers5" / "train"


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh process store over tmp_path/cache; the module's globals restored after."""
    monkeypatch.setattr(streaming, "_store", None)
    monkeypatch.setattr(streaming, "_configured", False)
    return lambda max_bytes=None: streaming.configure_image_store(
        tmp_path / "cache", max_bytes, FAST
    )


@pytest.fixture
def counted_downloads(monkeypatch):
    calls: list[str] = []
    real = cache_module.download

    def counting(url, partial, policy, **kwargs):
        calls.append(url)
        return real(url, partial, policy, **kwargs)

    monkeypatch.setattr(cache_module, "download", counting)
    return calls


@pytest.fixture
def memory_images():
    """Twelve flowers5 images in fsspec's memory filesystem, with their labels."""
    fs = fsspec.filesystem("memory")
    records = []
    for i, path in enumerate(image_files(12)):
        fs.pipe(f"/flowers/{i}.jpg", path.read_bytes())
        records.append({"image_url": f"memory://flowers/{i}.jpg", "label": path.parent.name})
    yield records
    fs.rm("/flowers", recursive=True)


def loader(records, batch_size=4) -> DataLoader:
    from torchvision.transforms import v2

    transform = v2.Compose([v2.Resize((32, 32)), v2.ToImage(), v2.ToDtype(torch.float32)])
    labels = sorted({r["label"] for r in records})
    dataset = ClassificationDataset(records, labels, transform)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)


def run_epoch(data: DataLoader) -> int:
    return sum(images.shape[0] for images, _ in data)


def test_second_epoch_reads_only_the_cache(store, counted_downloads, memory_images):
    store()
    data = loader(memory_images)
    assert run_epoch(data) == 12
    assert len(counted_downloads) == 12
    assert run_epoch(data) == 12
    assert len(counted_downloads) == 12  # no new reads from storage


def test_cache_smaller_than_the_dataset_still_trains(store, counted_downloads, memory_images):
    sizes = sorted(len(fsspec.filesystem("memory").cat(r["image_url"])) for r in memory_images)
    bound = sum(sizes[-5:])  # room for a batch (4) but not for the whole set
    active = store(bound)
    data = loader(memory_images)
    for _ in range(2):
        assert run_epoch(data) == 12
        assert active.cache.usage() <= bound
    assert len(counted_downloads) > 12  # evicted images were fetched again


def test_parse_cache_size(tmp_path):
    assert streaming.parse_cache_size(1000, tmp_path) == 1000
    assert streaming.parse_cache_size("2KB", tmp_path) == 2000
    assert streaming.parse_cache_size("2KiB", tmp_path) == 2048
    assert streaming.parse_cache_size("1.5G", tmp_path) == 1_500_000_000
    assert (
        0 < streaming.parse_cache_size("10%", tmp_path) < streaming.parse_cache_size(None, tmp_path)
    )
    with pytest.raises(DataError, match="not a size"):
        streaming.parse_cache_size("lots", tmp_path)


def write_remote_table(folder, server, sources, missing=0, invalid_lines="error"):
    """An MLTable whose image_url are URLs on `server` (plus `missing` absent ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "image_url": f"{server.base_url}/{p.relative_to(TRAIN).as_posix()}?sig=SECRET",
            "label": p.parent.name,
        }
        for p in sources
    ]
    rows += [
        {"image_url": f"{server.base_url}/gone{i}.jpg", "label": "daisy"} for i in range(missing)
    ]
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "MLTable").write_text(
        f"paths:\n  - file: ./a.jsonl\ntransformations:\n  - read_json_lines:\n"
        f"      invalid_lines: {invalid_lines}\n"
    )
    return folder


def test_doctor_checks_fetched_files_without_streaming(tmp_path, store):
    store()
    sources = image_files(10)
    with ImageServer(TRAIN, drop_rate=0.2, seed=3) as server:
        table = write_remote_table(tmp_path / "t", server, sources)
        records, report = read_dataset(table, "image_classification")
    assert report.ok, report.problems
    assert all(r["_sha1"] and r["image_details"]["width"] for r in records)
    assert report.summary["remote"]["images"] == 10
    assert len(server.gets) == 10 and sum(server.gets.values()) > 10  # drops were retried


def test_streaming_checks_existence_only_and_drops_missing(tmp_path, store):
    store()
    with ImageServer(TRAIN) as server:
        table = write_remote_table(
            tmp_path / "t", server, image_files(10), missing=2, invalid_lines="drop"
        )
        records, report = read_dataset(table, "image_classification", stream_images=True)
    assert len(records) == 10 and not server.gets and len(server.heads) == 12
    assert report.summary["n_dropped"] == 2
    assert "SECRET" not in " ".join(report.warnings)


def test_missing_remote_image_is_an_error_under_invalid_lines_error(tmp_path, store):
    store()
    with ImageServer(TRAIN) as server:
        table = write_remote_table(tmp_path / "t", server, image_files(10), missing=1)
        _, report = read_dataset(table, "image_classification")
    assert len(report.problems) == 1
    assert "gone0.jpg" in report.problems[0] and "does not exist" in report.problems[0]
