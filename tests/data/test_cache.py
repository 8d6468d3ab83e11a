"""The image cache: content-addressed, checksummed, LRU-bounded, safe under concurrency."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from _support.image_server import ImageServer

from automl.engine.data.cache import ImageCache, url_key

from .test_remote import BUNDLED, FAST, image_files

TRAIN = BUNDLED / "flowers5" / "train"


def url_of(server: ImageServer, path: Path, query: str = "") -> str:
    return f"{server.base_url}/{path.relative_to(TRAIN).as_posix()}{query}"


def test_fetch_stores_by_content_hash_and_hits_without_requests(tmp_path):
    source = image_files(1)[0]
    cache = ImageCache(tmp_path / "cache")
    with ImageServer(TRAIN) as server:
        url = url_of(server, source, "?sig=SECRET")
        entry = cache.fetch(url, FAST)
        assert cache.read(url) == source.read_bytes()
        cache.fetch(url, FAST)
    assert sum(server.gets.values()) == 1
    assert entry.path.name == hashlib.sha256(source.read_bytes()).hexdigest()
    index = (tmp_path / "cache" / "urls").rglob(f"{url_key(url)}.json")
    assert "SECRET" not in next(index).read_text()
    assert not list((tmp_path / "cache" / "partial").glob("*.part"))


def test_corrupt_blob_is_detected_and_fetched_again(tmp_path):
    source = image_files(1)[0]
    cache = ImageCache(tmp_path / "cache")
    with ImageServer(TRAIN) as server:
        url = url_of(server, source)
        entry = cache.fetch(url, FAST)
        entry.path.write_bytes(b"garbage")
        assert cache.read(url) is None  # checksum mismatch: dropped, never returned
        assert not entry.path.exists()
        assert cache.fetch(url, FAST).path.read_bytes() == source.read_bytes()
    assert sum(server.gets.values()) == 2


def test_eviction_keeps_the_cache_under_its_bound_least_recently_used_first(tmp_path):
    sources = image_files(12)
    sizes = [p.stat().st_size for p in sources]
    bound = sum(sizes[:5])
    cache = ImageCache(tmp_path / "cache", max_bytes=bound)
    with ImageServer(TRAIN) as server:
        urls = [url_of(server, p) for p in sources]
        for url in urls:
            cache.fetch(url, FAST)
        assert cache.usage() <= bound
        assert cache.lookup(urls[-1]) is not None  # newest kept
        assert cache.lookup(urls[0]) is None  # oldest evicted


def test_bound_recorded_in_config_is_used_by_a_new_cache(tmp_path):
    ImageCache(tmp_path / "cache").record_limit(12345)
    assert ImageCache(tmp_path / "cache").max_bytes == 12345
    assert json.loads((tmp_path / "cache" / "config.json").read_text()) == {"max_bytes": 12345}


def test_interrupted_download_left_in_partial_is_resumed(tmp_path):
    source = image_files(1)[0]
    data = source.read_bytes()
    cache = ImageCache(tmp_path / "cache")
    with ImageServer(TRAIN) as server:
        url = url_of(server, source)
        partial = cache._partial_path(url)
        partial.parent.mkdir(parents=True)
        partial.write_bytes(data[:1000])  # what a killed process left behind
        assert cache.read(url) is None  # a partial download is never visible
        assert cache.fetch(url, FAST).path.read_bytes() == data
    assert server.ranges == ["bytes=1000-"]


def test_concurrent_fetches_of_one_url_download_it_once(tmp_path):
    source = image_files(1)[0]
    with ImageServer(TRAIN) as server:
        url = url_of(server, source)
        caches = [ImageCache(tmp_path / "cache") for _ in range(6)]  # as separate processes
        threads = [threading.Thread(target=c.fetch, args=(url, FAST)) for c in caches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert server.gets[url.split(server.base_url)[1]] == 1
    assert len(list((tmp_path / "cache" / "blobs").rglob("*"))) == 2  # one folder, one blob
