"""Endpoint overhead: requests/s and p50/p99 latency at concurrency 1 and 8 against the
raw in-process predictor on the same images (issue 7), and the router of an endpoint with
two deployments at 50/50 against one model served alone (issue 21).

    .venv/bin/python bench/serving.py [--model REF] [--model-name resnet18] [--size 224]
        [--requests 200] [--threads 1] [--device cpu|cuda|auto] [--phases] [--quick]
        [--no-router] [--json F] [--markdown F]

Without --model, an untrained package of --model-name is written to a temporary folder
(pretrained=False: nothing is downloaded). The endpoint runs as `automl model serve` in a
child process with the same thread count; clients are threads with keep-alive connections.
The router row runs `automl endpoint serve` on an endpoint made from Azure's endpoint and
deployment files (two deployments of the same package, traffic blue=50 green=50, each
worker with the same thread count) in a temporary AUTOML_HOME.
Goals: at most 1 ms added at concurrency 1; at least 0.8x raw throughput at concurrency 8
(issue 18 asks 0.9x on a GPU).

--phases: then the same requests against bench/support/serving_phases.py, the same endpoint
with timers around its stages (body, parsing, decode and its hand-off, batching,
preprocessing, copies to and from the device, forward, response encoding), and a table of
where the time goes at concurrency 1 and 8 (see that file; the product code is not changed).
--quick: the tiny test model at 64 px and 40 requests (a CPU check of every path).
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

KEY = "bench-key"
FLOWERS = Path(__file__).resolve().parents[1] / "examples" / "data" / "flowers5" / "valid"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model reference (default: a fresh package)")
    parser.add_argument("--model-name", default="resnet18")
    parser.add_argument("--size", type=int, default=224, help="valid_crop_size of the package")
    parser.add_argument("--requests", type=int, help="per measurement (default 200; 40 quick)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--phases", action="store_true", help="time the server's stages")
    parser.add_argument("--quick", action="store_true", help="test_tiny_cnn, 64 px, 40 requests")
    parser.add_argument("--no-router", action="store_true", help="skip the endpoint router row")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--markdown", help="append a markdown section here")
    args = parser.parse_args()
    if args.quick:
        args.model_name, args.size = "test_tiny_cnn", 64
    args.requests = args.requests or (40 if args.quick else 200)
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def make_package(model_name: str, size: int, folder: Path) -> Path:
    from automl.engine.models import build_model, write_model_package

    model = build_model(model_name, 5, pretrained=False, crop_size=size).eval()
    params = {
        "validation_resize_size": int(size * 256 / 224),
        "validation_crop_size": size,
        "training_crop_size": size,
    }
    return write_model_package(
        folder,
        model,
        task="image_classification",
        model_name=model_name,
        labels=list("abcde"),
        training_parameters=params,
    )


def load_images(n: int) -> tuple[list[Image.Image], list[str]]:
    files = sorted(FLOWERS.glob("images/*/*.jpg"))[:n]
    images = [Image.open(f).convert("RGB") for f in files]
    encoded = [base64.b64encode(f.read_bytes()).decode() for f in files]
    return images, encoded


def summarise(latencies: list[float], wall: float) -> dict:
    ms = np.array(latencies) * 1000
    return {
        "rps": len(latencies) / wall,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
    }


def bench_raw(predictor, images: list[Image.Image], n: int, batch: int) -> dict:
    """Sequential in-process predictor calls of `batch` images (latency per call)."""
    for _ in range(5):  # warm-up (CUDA: kernels chosen, memory pooled)
        predictor.predict(images[:batch], batch_size=batch)
    latencies, start = [], time.perf_counter()
    for i in range(0, n, batch):
        chunk = [images[(i + j) % len(images)] for j in range(batch)]
        t0 = time.perf_counter()
        predictor.predict(chunk, batch_size=batch)
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    result = summarise(latencies, wall)
    result["rps"] = len(latencies) * batch / wall  # images per second
    return result


def start_server(ref: str, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "AUTOML_ENDPOINT_KEY": KEY, "OMP_NUM_THREADS": str(args.threads)}
    command = [
        sys.executable,
        "-m",
        "automl.cli.main",
        "model",
        "serve",
        ref,
        "--port",
        str(port),
        "--device",
        args.device,
        "--max-batch-size",
        str(args.max_batch_size),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    return process, url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, path: str = "/health") -> None:
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}{path}").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the endpoint did not start")


def bench_http(url: str, encoded: list[str], n: int, concurrency: int, key: str = KEY) -> dict:
    import httpx

    bodies = [
        f'{{"input_data": {{"columns": ["image"], "data": ["{e}"]}}}}'.encode() for e in encoded
    ]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def client(worker: int) -> list[float]:
        latencies = []
        with httpx.Client(timeout=120) as session:
            session.post(f"{url}/score", content=bodies[0], headers=headers)  # warm-up
            for i in range(worker, n, concurrency):
                t0 = time.perf_counter()
                response = session.post(
                    f"{url}/score", content=bodies[i % len(bodies)], headers=headers
                )
                latencies.append(time.perf_counter() - t0)
                response.raise_for_status()
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(client, range(concurrency)))
    wall = time.perf_counter() - start
    return summarise([x for r in results for x in r], wall)


ENDPOINT_FILE = "name: bench-ep\nauth_mode: key\n"
DEPLOYMENT_FILE = """\
name: {name}
endpoint_name: bench-ep
model:
  path: {package}
  type: mlflow_model
instance_type: Standard_DS3_v2
instance_count: 1
environment_variables:
  OMP_NUM_THREADS: {threads}
request_settings:
  request_timeout_ms: 60000
  max_concurrent_requests_per_instance: 8
readiness_probe:
  initial_delay: 1
  period: 1
"""


def start_router(package: str, args: argparse.Namespace, folder: Path):
    """`automl endpoint serve` of a two-deployment endpoint at 50/50 -> (process, url, key)."""
    import json

    env = {**os.environ, "AUTOML_HOME": str(folder / "home")}

    def automl(*words: str) -> str:
        command = [sys.executable, "-m", "automl.cli.main", *words]
        return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout

    (folder / "endpoint.yml").write_text(ENDPOINT_FILE)
    automl("endpoint", "create", "--file", str(folder / "endpoint.yml"))
    for name in ("blue", "green"):
        text = DEPLOYMENT_FILE.format(name=name, package=package, threads=args.threads)
        (folder / f"{name}.yml").write_text(text)
        automl("deployment", "create", "--file", str(folder / f"{name}.yml"))
    automl("endpoint", "update", "bench-ep", "--traffic", "blue=50 green=50")
    key = json.loads(automl("endpoint", "get-credentials", "bench-ep", "-o", "json"))
    command = [sys.executable, "-m", "automl.cli.main", "endpoint", "serve", "bench-ep",
               "--port", str(free_port()), "--device", args.device,
               "--max-batch-size", str(args.max_batch_size), "-o", "json"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    url = json.loads(process.stdout.readline())["scoring_uri"].rsplit("/", 1)[0]
    wait_ready(url, "/ready")
    return process, url, key["primaryKey"]


def bench_router(package: str, encoded: list[str], args: argparse.Namespace):
    with tempfile.TemporaryDirectory() as tmp:
        process, url, key = start_router(package, args, Path(tmp))
        try:
            return (
                bench_http(url, encoded, args.requests, 1, key),
                bench_http(url, encoded, args.requests, 8, key),
            )
        finally:
            process.terminate()
            process.wait(timeout=60)


def row(name: str, stats: dict) -> str:
    return f"{name:<34} {stats['rps']:>9.1f} {stats['p50']:>9.2f} {stats['p99']:>9.2f}"


def main() -> None:
    args = parse_args()
    import torch

    from automl.engine.predict import Predictor
    from automl.engine.registry import resolve_model_ref

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ref = args.model or str(make_package(args.model_name, args.size, Path(tmp) / "pkg"))
        package = str(resolve_model_ref(ref))
        predictor = Predictor.from_package(package, device=args.device)
        images, encoded = load_images(32)
        raw1 = bench_raw(predictor, images, args.requests, 1)
        raw8 = bench_raw(predictor, images, args.requests, 8)
        process, url = start_server(ref, args)
        try:
            http1 = bench_http(url, encoded, args.requests, 1)
            http8 = bench_http(url, encoded, args.requests, 8)
        finally:
            process.terminate()
            process.wait(timeout=30)
        phases = measure_phases(ref, args, encoded) if args.phases else None
        routed = None if args.no_router else bench_router(package, encoded, args)
    print(
        f"model {predictor.meta['model_name']} {predictor.settings['valid_crop_size']}px, "
        f"device {args.device}, torch threads {args.threads}, {args.requests} requests, "
        f"1 image each, max batch {args.max_batch_size}, {os.cpu_count()} CPUs"
    )
    print(f"{'':<34} {'images/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
    print(row("raw predictor, batch 1", raw1))
    print(row("raw predictor, batch 8 (per call)", raw8))
    print(row("endpoint, concurrency 1", http1))
    print(row("endpoint, concurrency 8 (batched)", http8))
    if routed is not None:
        print(row("router 50/50, concurrency 1", routed[0]))
        print(row("router 50/50, concurrency 8", routed[1]))
    print(
        f"added latency at concurrency 1: p50 {http1['p50'] - raw1['p50']:+.2f} ms (goal <= 1 ms)"
    )
    print(
        f"throughput at concurrency 8: {http8['rps'] / raw1['rps']:.2f}x raw batch 1 "
        f"(goal >= 0.8x), {http8['rps'] / raw8['rps']:.2f}x raw batch 8"
    )
    if routed is not None:
        print(
            f"router added latency (two deployments at 50/50 vs one model): p50 "
            f"{routed[0]['p50'] - http1['p50']:+.2f} ms at concurrency 1, "
            f"{routed[1]['p50'] - http8['p50']:+.2f} ms at concurrency 8"
        )
    rows = {"raw_1": raw1, "raw_8": raw8, "endpoint_1": http1, "endpoint_8": http8}
    if routed is not None:
        rows |= {"router_1": routed[0], "router_8": routed[1]}
    save_results(args, predictor, rows, phases)


# --------------------------------------------------- --phases: where the time goes (issue 18)

PHASE_ORDER = (
    "handler",
    "read_body",
    "prepare",
    "decode_await",
    "decode",
    "batch_await",
    "predict",
    "preprocess",
    "h2d_copy",
    "forward",
    "d2h_copy",
    "encode_response",
)


def start_phase_server(ref: str, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    """bench/serving_phases.py: the endpoint with timers around its stages."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "AUTOML_ENDPOINT_KEY": KEY, "OMP_NUM_THREADS": str(args.threads)}
    script = Path(__file__).resolve().parent / "support" / "serving_phases.py"
    command = [sys.executable, str(script), ref, "--port", str(port), "--device", args.device]
    command += ["--max-batch-size", str(args.max_batch_size)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    return process, url


def measure_phases(ref: str, args: argparse.Namespace, encoded: list[str]) -> dict:
    """Per-phase mean ms inside the server at concurrency 1 and 8, with the clients' mean."""
    import httpx

    headers = {"Authorization": f"Bearer {KEY}"}
    process, url = start_phase_server(ref, args)
    results = {}
    try:
        bench_http(url, encoded, min(args.requests, 40), 8)  # warm-up
        for concurrency in (1, 8):
            httpx.post(f"{url}/debug/phases/reset", headers=headers).raise_for_status()
            client = bench_http(url, encoded, args.requests, concurrency)
            phases = httpx.get(f"{url}/debug/phases", headers=headers).json()
            results[concurrency] = {"client": client, "phases": phases}
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def phase_lines(phases: dict) -> list[str]:
    """A markdown table: mean ms per call of each phase at concurrency 1 and 8."""
    lines = [
        "| phase | c1 mean ms | c1 calls | c8 mean ms | c8 calls |",
        "|---|---|---|---|---|",
    ]
    for name in PHASE_ORDER:
        cells = []
        for concurrency in (1, 8):
            stat = phases[concurrency]["phases"].get(name)
            cells += [f"{stat['mean_ms']:.3f}", str(stat["n"])] if stat else ["n/a", "0"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for concurrency in (1, 8):
        result = phases[concurrency]
        client = result["client"]["p50"]
        handler = result["phases"].get("handler", {}).get("p50_ms")
        outside = "n/a" if handler is None else f"{client - handler:.3f}"
        lines.append(
            f"concurrency {concurrency}: client p50 {client:.3f} ms, handler p50 {handler} ms, "
            f"outside the handler (HTTP parsing, uvicorn/ASGI, middleware, client) {outside} ms"
        )
    return lines


def save_results(args, predictor, rows: dict, phases: dict | None) -> None:
    """--phases table on stdout; JSON and a markdown section when asked."""
    import json

    lines = phase_lines(phases) if phases else []
    if lines:
        print("\nwhere the time goes inside the endpoint (--phases; mean per call):")
        print("\n".join(lines))
    name = args.device
    if args.device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name(0)
    gap = rows["endpoint_1"]["p50"] - rows["raw_1"]["p50"]
    ratio = rows["endpoint_8"]["rps"] / rows["raw_8"]["rps"]
    summary = {
        "bench": "serving",
        "device": name,
        "model": predictor.meta["model_name"],
        "size": args.size,
        "requests": args.requests,
        "max_batch_size": args.max_batch_size,
        "rows": rows,
        "added_latency_p50_ms": round(gap, 3),
        "throughput_c8_vs_raw_batch8": round(ratio, 3),
        "phases": phases,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    if args.markdown:
        table = ["| run | images/s | p50 ms | p99 ms |", "|---|---|---|---|"]
        table += [
            f"| {k} | {v['rps']:.1f} | {v['p50']:.2f} | {v['p99']:.2f} |" for k, v in rows.items()
        ]
        text = [
            f"added latency p50 {gap:+.2f} ms (goal <= 1 ms); concurrency 8: "
            f"{ratio:.2f}x raw batch 8 (goal >= 0.9x)"
        ]
        with open(args.markdown, "a", encoding="utf-8") as report:
            report.write(f"\n## Serving ({name}, {summary['model']} {args.size} px)\n\n")
            report.write("\n".join([*table, "", *text, "", *lines]) + "\n")


if __name__ == "__main__":
    main()
