"""Explain image files and write the results, plus `explanations.jsonl`, one line per image
naming them. Classifiers: per image (and per explained class for multi-label) the 2x2
visualisation PNG and the attributions `.npy` ([3, crop, crop] float32). Detectors and
instance segmenters: per image one PNG (a panel per object: its box and saliency) and the
maps `.npy` ([objects, H, W] float32), the index line listing the objects in map order."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from automl.engine.explain._base import ExplainParameters, is_multilabel
from automl.engine.explain._explain import ImageExplanation, explain_one
from automl.engine.explain._objects import ObjectExplanation
from automl.engine.utils.files import write_text_atomic

logger = logging.getLogger("automl.explain")
INDEX_FILE = "explanations.jsonl"
ProgressCallback = Callable[[int, int], None]


def explain_model_files(
    model_ref: str,
    source: str,
    out_dir: str | os.PathLike,
    params: ExplainParameters,
    *,
    device: str = "auto",
    on_progress: ProgressCallback | None = None,
) -> list[dict]:
    """`automl model explain`: load the model a reference names, check its task can be
    explained with `params`, read the images of `source` (an image, a folder, a glob or an
    MLTable) and explain them into `out_dir`."""
    from automl.engine.explain._base import METHODS
    from automl.engine.explain._explain import check_explainable
    from automl.engine.predict import load_predictor, read_scoring_inputs

    predictor = load_predictor(model_ref, device=device)
    check_explainable(predictor)
    params = params.for_task(predictor.task)
    if params.method in METHODS:  # a classification method: fail before reading images
        METHODS.get(params.method).require_modules()
    inputs = read_scoring_inputs(source, predictor.task)
    logger.info("explaining %d image(s) with %s", len(inputs), params.method)
    return explain_files(predictor, inputs, out_dir, params, on_progress=on_progress)


def explain_files(
    predictor: Any,
    inputs: Sequence[Any],
    out_dir: str | os.PathLike,
    params: ExplainParameters,
    *,
    on_progress: ProgressCallback | None = None,
) -> list[dict]:
    """Explain each input (objects with `path` and `filename`, as `read_scoring_inputs`
    returns) into `out_dir`; return the `explanations.jsonl` lines. An unreadable image gets
    an `error` line and a warning, not a crash."""
    from automl.engine.data.images import load_image_rgb

    params = params.for_task(predictor.task)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if params.method == "guided_gradcam":
        from automl.engine.explain._layers import find_cam_layer

        logger.info("guided_gradcam reads layer %s", find_cam_layer(predictor.model).name)
    stems = unique_stems([item.filename for item in inputs])
    lines = []
    for number, (item, stem) in enumerate(zip(inputs, stems, strict=True), start=1):
        try:
            image = load_image_rgb(item.path)
        except (OSError, ValueError) as exc:
            logger.warning("%s: cannot read the image (%s); skipped", item.path, exc)
            lines.append({"filename": item.filename, "error": f"cannot read the image: {exc}"})
            continue
        result = explain_one(predictor, image, params)
        lines.append(write_result(result, out_dir, stem, item.filename, predictor, params))
        if on_progress:
            on_progress(number, len(inputs))
    write_text_atomic(out_dir / INDEX_FILE, "".join(json.dumps(line) + "\n" for line in lines))
    return lines


def write_result(
    result: ImageExplanation | ObjectExplanation,
    out_dir: Path,
    stem: str,
    filename: str,
    predictor: Any,
    params: ExplainParameters,
) -> dict:
    """Write one image's files, a classifier's or a detector's; return its index line."""
    if isinstance(result, ObjectExplanation):
        return write_object_explanation(result, out_dir, stem, filename, params)
    return write_explanation(result, out_dir, stem, filename, predictor, params)


def write_explanation(
    result: ImageExplanation,
    out_dir: Path,
    stem: str,
    filename: str,
    predictor: Any,
    params: ExplainParameters,
) -> dict:
    """Write one image's files; return its index line (file names relative to out_dir)."""
    multilabel = is_multilabel(predictor.task)
    pngs, arrays = [], []
    for index, label in enumerate(result.explained_labels):
        base = f"{stem}.{params.method}" + (f".{safe_name(label)}" if multilabel else "")
        if params.visualizations:
            (out_dir / f"{base}.png").write_bytes(result.visualizations[index])
            pngs.append(f"{base}.png")
        if params.attributions:
            np.save(out_dir / f"{base}.npy", result.attributions[index])
            arrays.append(f"{base}.npy")
    return {
        "filename": filename,
        "method": params.method,
        "explained_labels": result.explained_labels,
        "scores": result.scores,
        "probs": result.probs,
        "labels": list(predictor.labels),
        "visualizations": pngs,
        "attributions": arrays,
    }


def write_object_explanation(
    result: ObjectExplanation, out_dir: Path, stem: str, filename: str, params: ExplainParameters
) -> dict:
    """Write one image's object explanation (`<stem>.<method>.png` and `.npy`); return its
    index line: `objects[i]` is explained by map i of the `.npy`."""
    base = f"{stem}.{params.method}"
    pngs, arrays = [], []
    if params.visualizations and result.visualization is not None:
        (out_dir / f"{base}.png").write_bytes(result.visualization)
        pngs.append(f"{base}.png")
    if params.attributions:
        np.save(out_dir / f"{base}.npy", result.maps)
        arrays.append(f"{base}.npy")
    return {
        "filename": filename,
        "method": params.method,
        "objects": result.objects,
        "n_detected": result.n_detected,
        "n_masks": result.n_masks,
        "map_size": list(result.maps.shape[-2:]),
        "visualizations": pngs,
        "attributions": arrays,
    }


def safe_name(text: str) -> str:
    """`text` usable in a file name: anything but letters, digits, `-` and `_` becomes `_`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_") or "label"


def unique_stems(filenames: Sequence[str]) -> list[str]:
    """Output name stems: the file's path without suffix, folders joined by `__`, with
    `-2`, `-3`... on clashes (a.jpg and a.png)."""
    seen: dict[str, int] = {}
    stems = []
    for name in filenames:
        stem = safe_name("__".join(Path(Path(name).with_suffix("")).parts[-3:]))
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return stems
