"""Remote reads: redaction, missing extras, retries with backoff, resumable downloads
(against `ImageServer`: tests/_support/image_server.py)."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from _support.image_server import ImageServer

from automl.engine.data.remote import (
    RemoteMissingError,
    RemoteReadError,
    RetryPolicy,
    check_filesystem,
    download,
    redact_url,
)
from automl.engine.errors import DataError

BUNDLED = Path(__file__).resolve().parents[2] / "examples" / "data"
FAST = RetryPolicy(attempts=10, base_delay_s=0.001, max_delay_s=0.01, outage_s=10.0)


def image_files(n: int) -> list[Path]:
    """The first `n` flowers5 training images (real JPEGs, a few KB each)."""
    return sorted((BUNDLED / "flowers5" / "train" / "images").rglob("*.jpg"))[:n]


def test_redact_url_hides_passwords_and_signatures():
    url = "https://user:hunter2@acct.blob.core.windows.net/c/a.jpg?sv=2022&sig=SECRET&se=x"
    shown = redact_url(url)
    assert "hunter2" not in shown and "SECRET" not in shown
    assert shown.startswith("https://user:***@acct.blob.core.windows.net/c/a.jpg?")
    assert "sv=2022" in shown and "sig=***" in shown
    assert redact_url("/data/a.jpg") == "/data/a.jpg"


def test_missing_filesystem_names_the_extra():
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401

        pytest.skip("s3fs is installed here")
    except ImportError:
        pass
    with pytest.raises(DataError) as caught:
        check_filesystem("s3://bucket/images/a.jpg")
    assert "automl-vision[s3]" in str(caught.value)
    with pytest.raises(DataError, match="not a known fsspec protocol"):
        check_filesystem("nosuchproto://x/a.jpg")


def test_cut_download_resumes_with_a_range_request(tmp_path):
    source = image_files(1)[0]
    with ImageServer(BUNDLED / "flowers5" / "train", cut_rate=1.0) as server:
        url = f"{server.base_url}/{source.relative_to(BUNDLED / 'flowers5' / 'train')}"
        # every response is cut in half: each retry resumes where the last stopped, so
        # the remaining bytes halve per attempt (a 1-byte body is never cut)
        policy = RetryPolicy(attempts=30, base_delay_s=0.001, max_delay_s=0.002)
        size = download(url, tmp_path / "a.part", policy)
    assert size == source.stat().st_size
    assert (tmp_path / "a.part").read_bytes() == source.read_bytes()
    assert server.ranges and all(r.startswith("bytes=") for r in server.ranges)


def test_missing_object_is_not_retried(tmp_path):
    with ImageServer(tmp_path) as server, pytest.raises(RemoteMissingError, match="not exist"):
        download(f"{server.base_url}/nope.jpg?sig=SECRET", tmp_path / "x.part", FAST)
    assert server.gets["/nope.jpg"] == 1


def test_outage_longer_than_the_bound_fails_with_a_redacted_message(tmp_path):
    with ImageServer(tmp_path, drop_rate=1.0) as server:
        url = f"{server.base_url}/a.jpg?sig=SECRET"
        policy = RetryPolicy(attempts=1000, base_delay_s=0.01, max_delay_s=0.05, outage_s=0.3)
        with pytest.raises(RemoteReadError) as caught:
            download(url, tmp_path / "a.part", policy)
    message = str(caught.value)
    assert "SECRET" not in message and "sig=***" in message
    assert "attempts over" in message
    assert 1 < server.gets["/a.jpg"] < 1000


def test_mltable_reads_jsonl_over_http_without_aiohttp(tmp_path, monkeypatch):
    """fsspec's HTTP filesystem needs aiohttp, which we do not install: JSONL files named
    by URL are downloaded like images (standard library, retries)."""
    import json
    import shutil

    from automl.engine.data import read_dataset

    monkeypatch.setitem(__import__("sys").modules, "aiohttp", None)
    served = tmp_path / "served"
    sources = image_files(10)
    for path in sources:
        target = served / path.relative_to(BUNDLED / "flowers5" / "train")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    with ImageServer(served, drop_rate=0.3, seed=1) as server:
        rows = [
            {
                "image_url": f"{server.base_url}/{p.relative_to(BUNDLED / 'flowers5' / 'train')}",
                "label": p.parent.name,
            }
            for p in sources
        ]
        (served / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        table = tmp_path / "table"
        table.mkdir()
        (table / "MLTable").write_text(
            f"paths:\n  - file: {server.base_url}/annotations.jsonl\n"
            "transformations:\n  - read_json_lines:\n      invalid_lines: error\n"
        )
        records, report = read_dataset(table, "image_classification")
        assert report.ok, report.problems
        assert len(records) == 10 and {r["label"] for r in records} == {"daisy"}

        (table / "MLTable").write_text(f"paths:\n  - folder: {server.base_url}/\n")
        with pytest.raises(DataError, match="cannot list a folder") as error:
            read_dataset(table, "image_classification")
        assert "file:" in (error.value.hint or "")


class EndlessServer:
    """Answers every GET with zeros and no Content-Length, like a URL onto /dev/zero."""

    def __init__(self) -> None:
        self.sent = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(handler):
                handler.send_response(200)
                handler.end_headers()
                chunk = b"\0" * 65536
                try:
                    for _ in range(2000):  # 128 MB at most, should the client not stop
                        handler.wfile.write(chunk)
                        self.sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> EndlessServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_endless_download_stops_at_the_size_limit(tmp_path, monkeypatch):
    from automl.engine.errors import LimitError

    monkeypatch.setenv("AUTOML_MAX_IMAGE_BYTES", "1000000")
    with EndlessServer() as server:
        url = f"http://127.0.0.1:{server.server.server_address[1]}/zero.jpg?sig=SECRET"
        with pytest.raises(LimitError) as caught:
            download(url, tmp_path / "z.part", FAST, limit_name="image_file_bytes")
    message = str(caught.value)
    assert "larger than the limit of 1,000,000 bytes" in message and "SECRET" not in message
    assert "AUTOML_MAX_IMAGE_BYTES" in message
    assert not (tmp_path / "z.part").exists()


def test_announced_size_over_the_limit_is_refused_at_once_and_not_retried(tmp_path, monkeypatch):
    from automl.engine.data.cache import ImageCache
    from automl.engine.errors import LimitError

    source = image_files(1)[0]
    monkeypatch.setenv("AUTOML_MAX_IMAGE_BYTES", str(source.stat().st_size - 1))
    with ImageServer(BUNDLED / "flowers5" / "train") as server:
        url = f"{server.base_url}/{source.relative_to(BUNDLED / 'flowers5' / 'train')}"
        with pytest.raises(LimitError, match="AUTOML_MAX_IMAGE_BYTES"):
            ImageCache(tmp_path / "cache").fetch(url, FAST)
    assert sum(server.gets.values()) == 1
