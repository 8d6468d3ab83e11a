"""`automl model ...`: register, export, serve, score and explain trained models.

Every command takes a model reference: NAME, NAME:VERSION or NAME@label of a registered
model, or a folder (a model package, or a run directory for its best model).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path

import typer

from automl.cli._common import (
    OUTPUT_OPTION,
    OutputFormat,
    out_console,
    output_option,
    print_json,
    print_table,
)
from automl.cli._progress import ScoringProgress

app = typer.Typer(
    help="Register, export, serve, score and explain trained models.", no_args_is_help=True
)
logger = logging.getLogger("automl.cli.model")

REF_ARGUMENT = typer.Argument(
    ...,
    metavar="MODEL",
    help="NAME, NAME:VERSION or NAME@label of a registered model, a model package folder or "
    "a run directory (its best_model/).",
)
DEVICE_OPTION = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto.")
SETTING_OPTION = typer.Option(
    None,
    "--setting",
    help="Override an inference setting of settings.json: --setting valid_resize_size=256 "
    "(repeatable; the value is parsed as JSON, else kept as text).",
)


# --- registry -------------------------------------------------------------------------------


@app.command("register")
def register(
    name: str = typer.Option(..., "--name", "-n", help="Model name in the registry."),
    path: Path | None = typer.Option(
        None, "--path", help="A model package folder (outputs/, best_model/) or run directory."
    ),
    job: str | None = typer.Option(None, "--job", help="A job name or run directory."),
    trial: int | None = typer.Option(
        None, "--trial", help="With --job: this trial's model instead of the best one."
    ),
    runs_root: Path = typer.Option(Path("runs"), "--runs-root", help="Where --job looks."),
    version: str | None = typer.Option(
        None, "--version", help="Version (default: the next number)."
    ),
    tags: list[str] | None = typer.Option(None, "--tag", help="k=v (repeatable)."),
    description: str | None = typer.Option(None, "--description", help="Free text."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Register a trained model: a new version with its lineage (job, trial, data, metrics)."""
    from automl.engine.registry import register_package

    source = _register_source(path, job, trial, runs_root)
    entry = register_package(
        name, source, version=version, tags=_parse_pairs(tags, "--tag"), description=description
    )
    if output is OutputFormat.json:
        print_json(entry.to_dict())
        return
    lineage = entry.lineage
    origin = f" from job {lineage['job']} trial {lineage['trial']}" if lineage.get("job") else ""
    sys.stdout.write(f"registered {entry.ref}{origin}\n")


def _register_source(path: Path | None, job: str | None, trial: int | None, runs_root: Path):
    from automl.engine.errors import UsageError
    from automl.engine.runs import find_run_dir

    if (path is None) == (job is None):
        raise UsageError("give exactly one of --path DIR or --job JOB")
    if path is not None:
        if trial is not None:
            raise UsageError("--trial goes with --job, not --path")
        return path
    run_dir = find_run_dir(job, runs_root)
    if trial is None:
        return run_dir / "best_model"
    folder = run_dir / "trials" / str(trial) / "outputs"
    if not (folder / "model.pt").is_file():
        raise UsageError(f"job {run_dir.name} has no model for trial {trial} ({folder})")
    return folder


LIST_COLUMNS = ("name", "version", "labels", "task", "model", "score", "created")


@app.command("list")
def list_models(
    name: str | None = typer.Argument(None, help="Only the versions of this model."),
    output: OutputFormat = output_option(table=True),
) -> None:
    """List registered models and their versions."""
    from automl.engine.registry import ModelRegistry

    entries = ModelRegistry().list(name)
    if output is OutputFormat.json:
        print_json([entry.to_dict() for entry in entries])
        return
    print_table(LIST_COLUMNS, [_list_row(entry) for entry in entries], output)


def _list_row(entry) -> tuple:
    score = entry.lineage.get("score")
    labels = ", ".join(entry.labels) or None
    score_text = None if score is None else f"{score:.4f}"
    return (
        entry.name,
        entry.version,
        labels,
        entry.task,
        entry.model_name,
        score_text,
        entry.created_at,
    )


@app.command("show")
def show(ref: str = REF_ARGUMENT, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Show one registered version (NAME, NAME:VERSION or NAME@label) and its lineage."""
    entry = _registered(ref)
    if output is OutputFormat.json:
        print_json(entry.to_dict())
        return
    console = out_console()
    lineage = entry.lineage
    rows = [
        ("model", entry.ref),
        ("labels", ", ".join(entry.labels) or "-"),
        ("task", entry.task),
        ("architecture", entry.model_name),
        ("description", entry.description or "-"),
        ("tags", ", ".join(f"{k}={v}" for k, v in entry.tags.items()) or "-"),
        ("created", entry.created_at),
        ("source job", f"{lineage.get('job')} trial {lineage.get('trial')}"),
        ("score", lineage.get("score")),
        ("job file sha256", lineage.get("job_file_sha256")),
        ("package", entry.path),
    ]
    for key, value in rows:
        console.print(f"{key:<16} {value}")


def _registered(ref: str):
    from automl.engine.registry import ModelRegistry, parse_model_ref

    name, version, label = parse_model_ref(ref)
    return ModelRegistry().get(name, version, label)


@app.command("download")
def download(
    ref: str = REF_ARGUMENT,
    output_dir: Path = typer.Option(
        ..., "--output-dir", "-d", help="Folder to copy the package into (new or empty)."
    ),
    output: OutputFormat = output_option("--output-dir"),
) -> None:
    """Copy a registered model package into a folder."""
    from automl.engine.registry import download_package

    entry = download_package(ref, output_dir)
    if output is OutputFormat.json:
        print_json({"model": entry.ref, "output_dir": str(output_dir)})
        return
    sys.stdout.write(f"{entry.ref} -> {output_dir}\n")


@app.command("delete")
def delete(
    ref: str = typer.Argument(..., metavar="NAME[:VERSION]", help="A version, or a name."),
    all_versions: bool = typer.Option(
        False, "--all", help="With a bare NAME: delete every version."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Delete a registered version (or, with --all, every version of a model)."""
    from automl.engine.errors import UsageError
    from automl.engine.registry import ModelRegistry, parse_model_ref

    name, version, label = parse_model_ref(ref)
    registry = ModelRegistry()
    if label:
        version = registry.get(name, label=label).version
    if version is None and not all_versions:
        raise UsageError(f"{ref!r} names a whole model; give NAME:VERSION or add --all")
    deleted = registry.delete(name, version)
    if output is OutputFormat.json:
        print_json({"deleted": deleted})
        return
    for item in deleted:
        sys.stdout.write(f"deleted {item}\n")


@app.command("label")
def label(
    ref: str = typer.Argument(..., metavar="NAME:VERSION"),
    new_label: str = typer.Argument(..., metavar="LABEL", help="e.g. production."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Point LABEL at a version (`latest` is automatic); use it as NAME@LABEL."""
    from automl.engine.errors import UsageError
    from automl.engine.registry import ModelRegistry, parse_model_ref

    name, version, _ = parse_model_ref(ref)
    if version is None:
        raise UsageError(f"{ref!r}: give NAME:VERSION to label")
    entry = ModelRegistry().set_label(name, version, new_label)
    if output is OutputFormat.json:
        print_json(entry.to_dict())
        return
    sys.stdout.write(f"{name}@{new_label} -> {entry.ref}\n")


# --- export ---------------------------------------------------------------------------------


class ExportFormat(str, Enum):
    onnx = "onnx"


@app.command("export")
def export(
    ref: str = REF_ARGUMENT,
    format: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="onnx."),
    batch_size: int = typer.Option(1, "--batch-size", help="Batch size of the graph."),
    dynamic_batch: bool = typer.Option(
        False, "--dynamic-batch", help="Any batch size at run time (classification)."
    ),
    opset: int | None = typer.Option(None, "--opset", help="ONNX opset (default 17)."),
    normalization: bool | None = typer.Option(
        None,
        "--normalization/--no-normalization",
        help="Bake /255 and mean/std into the graph (default: enable_onnx_normalization).",
    ),
    images: str | None = typer.Option(
        None, "--images", help="Images for the parity check (folder, glob, MLTable)."
    ),
    output_file: Path = typer.Option(Path("model.onnx"), "--output-file", help="The .onnx file."),
    output: OutputFormat = output_option("--output-file"),
) -> None:
    """Export to ONNX with Azure's input/output names; checks ONNX Runtime against PyTorch
    and fails when the largest difference is outside tolerance."""
    from automl.engine.export import export_onnx
    from automl.engine.predict import load_predictor

    predictor = load_predictor(ref)
    sample = _sample_images(images, predictor.task) if images else None
    result = export_onnx(
        predictor,
        output_file,
        batch_size=batch_size,
        dynamic_batch=dynamic_batch,
        opset=opset,
        normalization=normalization,
        images=sample,
    )
    if output is OutputFormat.json:
        print_json(dataclasses.asdict(result))
        return
    shape = "dynamic" if result.dynamic_batch else str(result.batch_size)
    sys.stdout.write(
        f"wrote {result.path} (opset {result.opset}, batch {shape}, inputs "
        f"{', '.join(result.input_names)}, outputs {', '.join(result.output_names)})\n"
        f"parity on {result.n_images} image(s): largest difference {result.max_abs_diff:.3g} "
        f"(tolerance {result.tolerance:g})\n"
    )


def _sample_images(source: str, task: str) -> list:
    from automl.engine.data.images import load_image_rgb
    from automl.engine.predict import read_scoring_inputs

    return [load_image_rgb(item.path) for item in read_scoring_inputs(source, task)[:8]]


# --- serving and scoring --------------------------------------------------------------------


class AuthMode(str, Enum):
    key = "key"
    none = "none"


def _limit_option(name: str, what: str, minimum: float = 1):
    """The `model serve` flag of a bound in schemas/limits.json (None: its variable, else
    its default)."""
    from automl.schemas import limit_spec

    spec = limit_spec(name)
    text = f"{what} (default {spec['default']:,}; or set {spec['env']})."
    return typer.Option(None, spec["flag"], help=text, min=minimum)


@app.command("serve")
def serve(
    ref: str = REF_ARGUMENT,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(5001, "--port", help="TCP port."),
    auth: AuthMode = typer.Option(
        AuthMode.key, "--auth", help="key (Authorization: Bearer KEY) or none."
    ),
    allowed_hosts: list[str] | None = typer.Option(
        None,
        "--allowed-host",
        help="With --auth none, also answer requests whose Host header names this (besides "
        "localhost, the loopback addresses and --host); '*' answers any. Repeatable.",
    ),
    max_batch_size: int = typer.Option(
        16, "--max-batch-size", help="Most images scored together across requests."
    ),
    max_body_mb: float | None = _limit_option("request_body_mb", "Largest body, MiB", 0.001),
    max_inflight_body_mb: float | None = _limit_option(
        "inflight_body_mb", "Body MiB held over all requests (then wait, 503)", 0.001
    ),
    max_items: int | None = _limit_option("request_items", "Most images in a request (413)"),
    max_image_pixels: int | None = _limit_option(
        "image_pixels", "Most pixels decoded from an image, a JPEG at reduced scale (413)"
    ),
    max_request_pixels: int | None = _limit_option(
        "request_pixels", "Most pixels decoded for a request (413)"
    ),
    max_inflight_pixels: int | None = _limit_option(
        "inflight_pixels", "Most decoded pixels held over all requests (then wait, 503)"
    ),
    max_concurrent_requests: int | None = _limit_option(
        "concurrent_requests", "Most requests worked on at once (429)"
    ),
    request_timeout: float | None = _limit_option(
        "request_seconds", "Seconds a request may take (408)", 0.001
    ),
    max_xai_steps: int | None = _limit_option("xai_steps", "Largest xai_parameters.n_steps"),
    max_xai_items: int | None = _limit_option("xai_items", "Most explanations in a request"),
    device: str = DEVICE_OPTION,
    settings: list[str] | None = SETTING_OPTION,
) -> None:
    """Serve the model over HTTP: POST /score (Azure's format), GET /health, /docs.

    The key comes from AUTOML_ENDPOINT_KEY, or is generated and printed once to stderr.
    Every request is bounded (size, images, pixels, time); see README's "Limits and safety".
    """
    from automl.engine.predict import load_predictor
    from automl.engine.serving import KEY_ENV, ServingLimits, generate_key
    from automl.engine.serving import serve as run_server

    limits = ServingLimits.from_flags(
        request_body_mb=max_body_mb,
        inflight_body_mb=max_inflight_body_mb,
        request_items=max_items,
        image_pixels=max_image_pixels,
        request_pixels=max_request_pixels,
        inflight_pixels=max_inflight_pixels,
        concurrent_requests=max_concurrent_requests,
        request_seconds=request_timeout,
        xai_steps=max_xai_steps,
        xai_items=max_xai_items,
    )
    predictor = load_predictor(ref, device=device, settings=_parse_pairs(settings, "--setting"))
    key = None
    if auth is AuthMode.key:
        key = os.environ.get(KEY_ENV) or generate_key()
        if not os.environ.get(KEY_ENV):
            sys.stderr.write(f"endpoint key (send 'Authorization: Bearer <key>'): {key}\n")
    sys.stderr.write(f"serving {ref} ({predictor.task}) on http://{host}:{port}/score\n")
    sys.stderr.flush()
    run_server(
        predictor,
        host=host,
        port=port,
        auth_key=key,
        max_batch_size=max_batch_size,
        limits=limits,
        allowed_hosts=allowed_hosts or (),
        log_level="debug" if logger.isEnabledFor(logging.DEBUG) else "warning",
    )


@app.command("predict")
def predict(
    ref: str = REF_ARGUMENT,
    source: str = typer.Option(
        ..., "--input", "-i", help="An MLTable folder, a JSONL file, a folder or a quoted glob."
    ),
    output_file: Path = typer.Option(
        Path("preds.jsonl"), "--output-file", help="The JSONL file to write."
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Images per forward."),
    evaluate: bool = typer.Option(
        False, "--evaluate", help="Also compute the task's metrics against the input's labels."
    ),
    device: str = DEVICE_OPTION,
    settings: list[str] | None = SETTING_OPTION,
    output: OutputFormat = output_option("--output-file"),
) -> None:
    """Score images in batches: one JSON line per image with `filename` (Azure's format)."""
    from automl.engine.predict import (
        evaluate_predictions,
        load_predictor,
        read_scoring_inputs,
        score_files,
    )

    predictor = load_predictor(ref, device=device, settings=_parse_pairs(settings, "--setting"))
    inputs = read_scoring_inputs(source, predictor.task)
    with ScoringProgress(len(inputs)) as on_progress:
        lines = score_files(
            predictor, inputs, output_file, batch_size=batch_size, on_progress=on_progress
        )
    n_failed = sum(1 for line in lines if "error" in line)
    sys.stderr.write(f"wrote {len(lines)} prediction(s) to {output_file}")
    sys.stderr.write(f" ({n_failed} unreadable image(s))\n" if n_failed else "\n")
    metrics = evaluate_predictions(predictor, inputs, lines) if evaluate else None
    if output is OutputFormat.json:
        result = {"output_file": str(output_file), "n_predictions": len(lines)}
        print_json({**result, "n_unreadable": n_failed, "metrics": metrics})
    elif metrics is not None:
        _print_metrics(metrics)


def _print_metrics(metrics: dict) -> None:
    """One `name value` line per metric (numbers with 4 decimals; anything else as JSON)."""
    width = max((len(name) for name in metrics), default=0)
    for name, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else json.dumps(value, default=str)
        sys.stdout.write(f"{name:<{width}}  {shown}\n")


def _parse_pairs(items: list[str] | None, option: str) -> dict:
    """k=v pairs; values parsed as JSON when they parse (numbers, booleans), else text."""
    from automl.engine.errors import UsageError

    pairs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {item!r}: expected KEY=VALUE")
        try:
            pairs[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            pairs[key.strip()] = value
    return pairs


def _register_explain() -> None:
    """The explain command lives in its own module (another part of the project)."""
    import importlib.util

    if importlib.util.find_spec("automl.cli._model_explain") is not None:
        from automl.cli._model_explain import register as _register

        _register(app)


_register_explain()
