"""Batch scoring: read images from an MLTable, JSONL, folder or glob, score them with a
Predictor, write one JSON line per image with `filename`, and evaluate against labels."""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from automl.engine.data.images import LazyImage
from automl.engine.errors import AutomlError
from automl.engine.predict._base import PredictError
from automl.engine.predict._predictor import Predictor

logger = logging.getLogger("automl.predict")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff", ".webp")
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class ScoringInput:
    """One image to score: its location, the name written to the output, and its label
    (normalised as in manifests) when the input had labels."""

    path: str
    filename: str
    label: object = None
    has_label: bool = False


def read_scoring_inputs(
    source: str, task: str, target_column_name: str = "label"
) -> list[ScoringInput]:
    """Images of an MLTable folder, a JSONL file, a folder (recursive) or a glob pattern."""
    path = Path(source)
    if path.exists() and not path.is_dir():  # a FIFO or a device would block or never end
        from automl.engine.utils.files import check_regular_file

        check_regular_file(path, "--input")
    if _is_table(path):
        return _table_inputs(path, task, target_column_name)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        return [ScoringInput(str(p), str(p.relative_to(path))) for p in files]
    if path.is_file():
        return [ScoringInput(str(path), path.name)]
    matches = sorted(glob.glob(os.path.expanduser(source), recursive=True))
    images = [m for m in matches if Path(m).suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise PredictError(
            f"--input {source!r}: no MLTable, JSONL, folder or images matching it",
            hint="pass an MLTable folder, a .jsonl file, a folder of images or a quoted glob "
            "like 'images/*.jpg'",
        )
    return [ScoringInput(m, m) for m in images]


def _is_table(path: Path) -> bool:
    if path.is_file():
        return path.suffix == ".jsonl" or path.name == "MLTable"
    return (path / "MLTable").is_file()


def _table_inputs(path: Path, task: str, target: str) -> list[ScoringInput]:
    from automl.engine.data.labels import parse_label
    from automl.engine.data.mltable import decode_line, iter_lines, read_table_spec
    from automl.engine.data.urls import resolve_location

    inputs, problems = [], []
    for line in iter_lines(read_table_spec(path)):
        row, problem = decode_line(line)
        if row is None or not isinstance(row.get("image_url"), str):
            problems.append(f"{line.source}: {problem or 'missing image_url'}")
            continue
        location = resolve_location(row["image_url"], line.base_dir)
        label, label_problems = parse_label(task, row[target]) if target in row else (None, [])
        problems += [f"{line.source}: {p}" for p in label_problems]
        inputs.append(ScoringInput(location, row["image_url"], label, target in row))
    if problems:
        raise PredictError(f"{path}: {len(problems)} unusable line(s); first: {problems[0]}")
    return inputs


def score_files(
    predictor: Predictor,
    inputs: list[ScoringInput],
    output: str | os.PathLike,
    *,
    batch_size: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[dict]:
    """Score `inputs` in batches; write `output` (JSONL, one line per image, in order) and
    return the lines. Unreadable images get an `error` line and a warning, not a crash."""
    size = batch_size or predictor.batch_size
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    lines: list[dict] = []
    with open(output, "w", encoding="utf-8") as handle:
        for start in range(0, len(inputs), size):
            chunk = _score_chunk(predictor, inputs[start : start + size])
            for line in chunk:
                handle.write(json.dumps(line) + "\n")
            handle.flush()
            lines.extend(chunk)
            if on_progress:
                on_progress(len(lines), len(inputs))
    return lines


def _score_chunk(predictor: Predictor, chunk: list[ScoringInput]) -> list[dict]:
    from automl.schemas import limit

    max_pixels = limit("image_pixels")
    images, errors = [], {}
    for index, item in enumerate(chunk):
        try:
            image = LazyImage(item.path)  # decoded no larger than the model needs
            min_size = predictor.decode_size(*image.size)
            images.append(image.decode(min_size=min_size, max_pixels=max_pixels))
        except (OSError, ValueError, AutomlError, Image.DecompressionBombError) as exc:
            reason = _unreadable(exc)
            logger.warning("%s: cannot read the image (%s); skipped", item.path, reason)
            errors[index] = f"cannot read the image: {reason}"
    predictions = iter(predictor.predict(images, batch_size=len(chunk)) if images else [])
    lines = []
    for index, item in enumerate(chunk):
        if index in errors:
            lines.append({"filename": item.filename, "error": errors[index]})
        else:
            lines.append({"filename": item.filename, **next(predictions)})
    return lines


def _unreadable(exc: Exception) -> str:
    """Why an image was skipped, on one line (a bound says how to raise it)."""
    from automl.engine.data.images import PixelLimitError
    from automl.schemas import limit_spec

    if isinstance(exc, PixelLimitError):
        return f"{exc.message}; raise it with {limit_spec('image_pixels')['env']}=N"
    if isinstance(exc, AutomlError):
        return f"{exc.message}; {exc.hint}" if exc.hint else exc.message
    return str(exc)


def evaluate_predictions(
    predictor: Predictor, inputs: list[ScoringInput], lines: list[dict]
) -> dict[str, float]:
    """The task's metrics of scored lines against the inputs' labels."""
    pairs = [(i, line) for i, line in zip(inputs, lines, strict=True) if "error" not in line]
    unlabeled = [item.filename for item, _ in pairs if not item.has_label]
    if not pairs or unlabeled:
        raise PredictError(
            "--evaluate needs a label for every image"
            + (f"; {unlabeled[0]} has none" if unlabeled else ""),
            hint="score an MLTable or JSONL whose lines have the 'label' column",
        )
    evaluate = getattr(predictor.task_predictor, "evaluate", None)
    if evaluate is None:
        raise PredictError(f"--evaluate is not available for task {predictor.task!r}")
    return evaluate([item.label for item, _ in pairs], [line for _, line in pairs])
