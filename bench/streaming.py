"""Epoch time of a data loader over local files vs. the same images streamed over HTTP.

    python bench/streaming.py [--crop 224] [--batch 32] [--workers 2] [--latency-ms 0]

One run prints three epoch times for the flowers5 training images (each epoch decodes and
transforms every image with the classification training transform, no model):
local files; streamed with a cold cache (every image fetched from a loopback HTTP server,
batches read ahead in parallel); streamed with a warm cache (the second epoch: disk only).
`--latency-ms` adds a per-request delay at the server, to imitate object storage.
Goal: warm within 1.1x of local.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "examples" / "data" / "flowers5"
GOAL = 1.1


def load_server_class():
    """The loopback server of the tests (request counts, optional faults)."""
    path = REPO_ROOT / "tests" / "_support" / "image_server.py"
    spec = importlib.util.spec_from_file_location("remote_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ImageServer


def epoch_seconds(records, labels, args) -> float:
    from automl.engine.data.datasets import ClassificationDataset
    from automl.engine.tasks.classification import build_train_transform

    dataset = ClassificationDataset(records, labels, build_train_transform(args.crop))
    loader = DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers)
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ["AUTOML_HOME"] = tempfile.mkdtemp(prefix="automl-bench-")  # a cold cache

    from automl.engine.data import read_dataset
    from automl.engine.data.streaming import configure_image_store

    records, _ = read_dataset(DATA / "train", "image_classification", check_images=False)
    labels = sorted({r["label"] for r in records})
    server_class = load_server_class()
    with server_class(DATA / "train", latency_s=args.latency_ms / 1000) as server:
        remote = [
            {
                **r,
                "image_url": server.base_url
                + "/"
                + str(Path(r["image_url"]).relative_to(DATA / "train")),
            }
            for r in records
        ]
        configure_image_store()
        epoch_seconds(records, labels, args)  # warm the OS page cache for a fair local time
        local = epoch_seconds(records, labels, args)
        cold = epoch_seconds(remote, labels, args)
        warm = epoch_seconds(remote, labels, args)
        n_requests = sum(server.gets.values())
    print(f"{len(records)} images, batch {args.batch}, {args.workers} workers, crop {args.crop}")
    print(f"local files       {local:7.3f} s/epoch")
    print(f"streamed, cold    {cold:7.3f} s/epoch  ({cold / local:.2f}x local)")
    print(f"streamed, warm    {warm:7.3f} s/epoch  ({warm / local:.2f}x local; goal <= {GOAL}x)")
    print(f"HTTP GET requests {n_requests} (one per image: the warm epoch made none)")


if __name__ == "__main__":
    main()
