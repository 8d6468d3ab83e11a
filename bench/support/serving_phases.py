"""Where a request's time goes inside the endpoint: the server of bench/serving.py --phases.

    python bench/support/serving_phases.py REF --port P [--device cuda] [--max-batch-size 8]

Serves REF exactly as `automl model serve` does (engine.serving's create_app and
server_config, key from AUTOML_ENDPOINT_KEY), with timers wrapped around the stages of a
request, installed from outside (the product code is unchanged and runs untimed without
this script). `GET /debug/phases` returns, per phase, the count and mean/p50 in ms;
`POST /debug/phases/reset` clears them (after a warm-up).

Phases (each timed where it runs; `*_await` is the event loop's wait for a thread, so
`await - inside` is the hand-off between the loop and that thread):
    handler            Scorer.__call__: the whole /score handler, response included
    read_body          reading the body from the ASGI stream
    prepare            JSON parsing, base64, image headers (inline or in the decoder pool)
    decode_await       the loop waiting for a decode batch; decode: the decode itself
    batch_await        BatchingWorker.predict: queueing, batching and scoring
    predict            Predictor.predict in the model thread (everything below)
    preprocess         resize, crop, normalise on the CPU
    h2d_copy           batch.to(device), synchronised
    forward            model(batch), synchronised
    d2h_copy           logits .float().cpu()
    encode_response    JSONResponse rendering (json.dumps of the answer)
On a GPU the forward is synchronised between phases while timing, which costs a launch
gap; the client-side latency beside it (bench/serving.py) shows what is outside the handler:
HTTP parsing, uvicorn/ASGI, the client.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import threading
import time
from collections import defaultdict

TIMES: dict[str, list[float]] = defaultdict(list)
LOCK = threading.Lock()


def record(phase: str, seconds: float) -> None:
    with LOCK:
        TIMES[phase].append(seconds)


def summary() -> dict:
    with LOCK:
        snapshot = {k: list(v) for k, v in TIMES.items()}
    return {
        phase: {
            "n": len(values),
            "mean_ms": round(1000 * statistics.fmean(values), 3),
            "p50_ms": round(1000 * statistics.median(values), 3),
        }
        for phase, values in snapshot.items()
        if values
    }


def timed(phase: str, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            record(phase, time.perf_counter() - start)

    return wrapper


def timed_async(phase: str, function):
    @functools.wraps(function)
    async def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            record(phase, time.perf_counter() - start)

    return wrapper


def patch(owner, name: str, phase: str, is_async: bool = False) -> bool:
    """Wrap owner.name with a timer; False (and a note) when the name is gone."""
    function = getattr(owner, name, None)
    if function is None:
        print(f"serving_phases: {owner.__name__}.{name} not found: phase {phase} not timed")
        return False
    setattr(owner, name, (timed_async if is_async else timed)(phase, function))
    return True


def install_server_timers() -> None:
    """Timers on the endpoint's stages (module functions and class methods)."""
    from automl.engine.serving import _batcher, _score

    patch(_score.Scorer, "__call__", "handler", is_async=True)
    patch(_score, "read_body", "read_body", is_async=True)
    patch(_score, "prepare_items", "prepare")
    patch(_score.Scorer, "_decoding", "decode_await", is_async=True)
    patch(_score, "decode_items", "decode")
    patch(_batcher.BatchingWorker, "predict", "batch_await", is_async=True)
    response_class = getattr(_score, "JSONResponse", None)
    if response_class is not None:

        class TimedJSONResponse(response_class):
            def render(self, content) -> bytes:
                start = time.perf_counter()
                body = super().render(content)
                record("encode_response", time.perf_counter() - start)
                return body

        _score.JSONResponse = TimedJSONResponse


def install_predictor_timers(predictor) -> None:
    """Timers on the predictor: the whole call, preprocessing, and for classification the
    forward split into copy in, model, copy out (synchronised on CUDA)."""
    import torch

    predictor.predict = timed("predict", predictor.predict)
    task = predictor.task_predictor
    task.preprocess = timed("preprocess", task.preprocess)
    if not task.__class__.__name__.endswith("ClassificationPredictor"):
        task.forward = timed("forward", task.forward) if hasattr(task, "forward") else None
        return
    device = task.device

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    @torch.inference_mode()
    def forward(batch):
        start = time.perf_counter()
        batch = batch.to(device)
        sync()
        copied = time.perf_counter()
        logits = task.model(batch)
        sync()
        computed = time.perf_counter()
        result = logits.float().cpu()
        record("h2d_copy", copied - start)
        record("forward", computed - copied)
        record("d2h_copy", time.perf_counter() - computed)
        return result

    task.forward = forward


def add_debug_routes(app) -> None:
    from fastapi.responses import JSONResponse

    async def phases():
        return JSONResponse(summary())

    async def reset():
        with LOCK:
            TIMES.clear()
        return JSONResponse({"reset": True})

    app.add_api_route("/debug/phases", phases, methods=["GET"])
    app.add_api_route("/debug/phases/reset", reset, methods=["POST"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-batch-size", type=int, default=16)
    args = parser.parse_args()
    import os

    import uvicorn

    from automl.engine.predict import Predictor
    from automl.engine.registry import resolve_model_ref
    from automl.engine.serving import KEY_ENV, create_app, server_config

    install_server_timers()
    predictor = Predictor.from_package(resolve_model_ref(args.ref), device=args.device)
    install_predictor_timers(predictor)
    app = create_app(predictor, auth_key=os.environ[KEY_ENV], max_batch_size=args.max_batch_size)
    add_debug_routes(app)
    uvicorn.Server(server_config(app, "127.0.0.1", args.port, "warning")).run()


if __name__ == "__main__":
    main()
