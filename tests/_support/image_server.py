"""`ImageServer` (the remote-data tests, the streaming job test and bench/streaming.py):
serves a folder on 127.0.0.1, counts requests, and can drop or cut short a share of them."""

from __future__ import annotations

import http.server
import random
import threading
import time
from collections import Counter
from pathlib import Path


class ImageServer:
    """A loopback HTTP server over `root` with request counts and injected faults.

    `drop_rate`: share of GETs answered by closing the connection; `cut_rate`: share of
    GETs whose body stops halfway; `latency_s`: delay before each GET is answered (object
    storage is further away than loopback). Range requests (`bytes=N-`) are honoured (206).
    """

    def __init__(self, root: Path, drop_rate=0.0, cut_rate=0.0, seed=0, latency_s=0.0) -> None:
        self.root = Path(root)
        self.latency_s = latency_s
        self.drop_rate, self.cut_rate = drop_rate, cut_rate
        self.seed = seed
        self.gets: Counter = Counter()
        self.heads: Counter = Counter()
        self.ranges: list[str] = []
        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def roll(self, rate: float, *key) -> bool:
        """A fault decision fixed by (seed, key), not by the order concurrent requests arrive,
        so a test sees the same faults on every run."""
        return random.Random(f"{self.seed}:{key}").random() < rate

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _file(self) -> Path | None:
                path = server.root / self.path.split("?", 1)[0].lstrip("/")
                return path if path.is_file() else None

            def do_HEAD(self):
                with server.lock:
                    server.heads[self.path.split("?")[0]] += 1
                path = self._file()
                self.send_response(200 if path else 404)
                self.send_header("Content-Length", str(path.stat().st_size if path else 0))
                self.end_headers()

            def do_GET(self):
                name = self.path.split("?")[0]
                with server.lock:
                    server.gets[name] += 1
                    attempt = server.gets[name]
                time.sleep(server.latency_s)
                if server.roll(server.drop_rate, "drop", name, attempt):
                    self.close_connection = True
                    return  # no response at all: the client sees a dropped connection
                path = self._file()
                if path is None:
                    self.send_error(404)
                    return
                self._send(path.read_bytes())

            def _send(self, data: bytes):
                start = 0
                requested = self.headers.get("Range")
                if requested:
                    with server.lock:
                        server.ranges.append(requested)
                    start = int(requested.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if len(body) > 1 and server.roll(server.cut_rate, "cut", self.path, start):
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler
