"""`automl model explain`: why a model decided what it did: classifiers
(docs/azure-compatibility.md §7.3),
detectors and instance segmenters (D-RISE, our extension).

Registered onto the `model` noun by cli/model.py (`register(app)`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from automl.cli._common import OutputFormat, output_option, print_json

logger = logging.getLogger("automl.explain")


def register(app: typer.Typer) -> None:
    """Add the `explain` command to the `model` typer app."""
    app.command("explain")(explain_command)


def explain_command(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="NAME, NAME:VERSION or NAME@label of a registered model, a model package folder "
        "(a trial's outputs/, a run's best_model/) or a run directory.",
    ),
    source: str = typer.Option(
        ...,
        "--input",
        "-i",
        help="An image, a folder of images (recursive), an MLTable folder, a JSONL file or a "
        "quoted glob.",
    ),
    method: str | None = typer.Option(
        None,
        "--method",
        "-m",
        help="Classifiers: xrai (the default; best, slowest), guided_gradcam, "
        "integrated_gradients or guided_backprop (fastest). Object detection and instance "
        "segmentation: drise (the default).",
    ),
    n_steps: int = typer.Option(
        50, "--n-steps", help="Integration steps of xrai and integrated_gradients (>= 2)."
    ),
    xrai_fast: bool = typer.Option(
        True, "--xrai-fast/--no-xrai-fast", help="XRAI's fast algorithm (less precise)."
    ),
    approximation_method: str = typer.Option(
        "riemann_middle",
        "--approximation-method",
        help="Integration rule of integrated gradients: riemann_middle, gausslegendre, "
        "riemann_left, riemann_right or riemann_trapezoid.",
    ),
    threshold: float = typer.Option(
        0.5,
        "--confidence-score-threshold-multilabel",
        help="Multi-label: explain every class whose score is at least this.",
    ),
    n_masks: int | None = typer.Option(
        None,
        "--n-masks",
        help="drise: random masks, one detector run each (more: smoother maps, slower; "
        "default: about 10 s of work on one GPU for this model, 100 to 2000).",
    ),
    mask_res: int | None = typer.Option(
        None, "--mask-res", help="drise: cells per side of the random masks (default 16)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="drise: seed of the random masks (default 0: reproducible)."
    ),
    visualizations: bool = typer.Option(
        True,
        "--visualizations/--no-visualizations",
        help="Write the PNG per explanation (classifiers: a 2x2 grid; detectors: each "
        "object's box and saliency).",
    ),
    attributions: bool = typer.Option(
        True,
        "--attributions/--no-attributions",
        help="Write the .npy arrays ([3, crop, crop]; detectors: [objects, H, W]).",
    ),
    output_dir: Path = typer.Option(
        Path("explanations"), "--output-dir", "-d", help="Folder for the PNG and .npy files."
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    output: OutputFormat = output_option("--output-dir"),
) -> int:
    """Explain a model's predictions. Classifiers: a 2x2 PNG and the attributions (.npy) per
    image, one per explained class for multi-label models. Detectors and instance segmenters
    (drise): per image one PNG with each detected object's box and saliency, and the maps
    (.npy, [objects, H, W])."""
    from automl.engine.explain import ExplainParameters, explain_model_files

    drise = {"n_masks": n_masks, "mask_res": mask_res, "seed": seed}
    params = ExplainParameters(
        method=method,
        n_steps=n_steps,
        xrai_fast=xrai_fast,
        approximation_method=approximation_method,
        confidence_score_threshold_multilabel=threshold,
        visualizations=visualizations,
        attributions=attributions,
        **{name: value for name, value in drise.items() if value is not None},
    ).checked()
    lines = explain_model_files(
        model, source, output_dir, params, device=device, on_progress=_log_progress
    )
    _report(lines, output_dir, output)
    return 1 if any("error" in line for line in lines) else 0


def _log_progress(done: int, total: int) -> None:
    logger.debug("explained %d/%d", done, total)


def _report(lines: list[dict], output_dir: Path, output: OutputFormat) -> None:
    if output is OutputFormat.json:
        print_json({"output_dir": str(output_dir), "explanations": lines})
        return
    for line in lines:
        sys.stdout.write(_text_line(line) + "\n")
    sys.stderr.write(f"wrote {len(lines)} explanation(s) to {output_dir}\n")


def _text_line(line: dict) -> str:
    if "error" in line:
        return f"{line['filename']}: {line['error']}"
    if "objects" in line:
        return _objects_line(line)
    pairs = zip(line["explained_labels"], line["scores"], strict=True)
    explained = ", ".join(f"{label} ({score:.3f})" for label, score in pairs)
    files = ", ".join(line["visualizations"] + line["attributions"])
    return f"{line['filename']}: {explained or 'no class passes the threshold'}: {files or '-'}"


def _objects_line(line: dict) -> str:
    objects = ", ".join(f"{o['label']} ({o['score']:.3f})" for o in line["objects"])
    files = ", ".join(line["visualizations"] + line["attributions"])
    shown = len(line["objects"])
    more = f" (+{line['n_detected'] - shown} not explained)" if line["n_detected"] > shown else ""
    return f"{line['filename']}: {objects or 'no objects detected'}{more}: {files or '-'}"
