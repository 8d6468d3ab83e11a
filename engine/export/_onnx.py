"""ONNX export of any task through its predictor's `onnx_program()`, checked against PyTorch.

The task's predictor says what to trace (module, example input, Azure's input/output names,
dynamic axes) and how to build graph inputs from images, so the export and the parity check
use the very preprocessing of validation, batch scoring and the endpoint.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from automl import schemas
from automl.engine.errors import AutomlError
from automl.engine.predict import OnnxProgram, Predictor

logger = logging.getLogger("automl.export")

DEFAULT_OPSET = 17
PARITY_RTOL = 1e-3


class ExportError(AutomlError):
    """The model cannot be exported as asked, or the export disagrees with PyTorch."""


@dataclass
class ExportResult:
    """What `export_onnx` wrote and how closely ONNX Runtime matched PyTorch."""

    path: Path
    opset: int
    batch_size: int
    dynamic_batch: bool
    normalization: bool
    input_names: list[str]
    output_names: list[str]
    max_abs_diff: float
    tolerance: float
    n_images: int
    checks: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**self.__dict__, "path": str(self.path)}


def export_onnx(
    predictor: Predictor,
    output: str | os.PathLike,
    *,
    batch_size: int = 1,
    dynamic_batch: bool = False,
    opset: int | None = None,
    normalization: bool | None = None,
    images: list[Image.Image] | None = None,
    tolerance: float | None = None,
) -> ExportResult:
    """Export to `output`, run ONNX Runtime and PyTorch on sample images and compare.

    `normalization` defaults to the model's `enable_onnx_normalization`. Raises ExportError
    (and removes the file) when the largest difference is outside the tolerance.
    """
    if batch_size < 1:
        raise ExportError(f"--batch-size must be at least 1, got {batch_size}")
    if normalization is None:
        normalization = bool(trained_value(predictor, "enable_onnx_normalization"))
    program = predictor.task_predictor.onnx_program(
        batch_size=batch_size, dynamic_batch=dynamic_batch, normalization=normalization
    )
    opset = _check_opset(opset, program)
    output = Path(output)
    _trace(program, output, opset)
    _add_metadata(output, predictor, normalization)
    sample = images or sample_images(max(batch_size, 3) if dynamic_batch else batch_size)
    checks = check_parity(program, output, sample, batch_size, dynamic_batch)
    worst = max(checks, key=lambda c: c["max_abs_diff"])
    result = ExportResult(
        output,
        opset,
        batch_size,
        dynamic_batch,
        normalization,
        program.input_names,
        program.output_names,
        worst["max_abs_diff"],
        tolerance or program.tolerance,
        len(sample),
        checks,
    )
    if not all(c["ok"] for c in checks):
        output.unlink(missing_ok=True)
        raise ExportError(
            f"ONNX Runtime disagrees with PyTorch: largest difference {result.max_abs_diff:.3g} "
            f"(tolerance {result.tolerance:g} + {PARITY_RTOL:g} relative); {output} removed",
            hint="try another --opset, or report the model name and task",
        )
    return result


def trained_value(predictor: Predictor, key: str):
    """A training parameter of the package's trial, or the task's default (schema)."""
    params = predictor.meta.get("training_parameters") or {}
    if key in params:
        return params[key]
    return schemas.task_default(predictor.task, key)


def _check_opset(opset: int | None, program: OnnxProgram) -> int:
    opset = opset or max(DEFAULT_OPSET, program.min_opset)
    if opset < program.min_opset:
        raise ExportError(
            f"--opset {opset} is too old for this model (needs >= {program.min_opset})",
            hint=f"use --opset {program.min_opset} or newer (default {DEFAULT_OPSET})",
        )
    return opset


def _trace(program: OnnxProgram, output: Path, opset: int) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but complete
        warnings.simplefilter("ignore")
        torch.onnx.export(
            program.module,
            program.example,
            str(output),
            input_names=program.input_names,
            output_names=program.output_names,
            dynamic_axes=program.dynamic_axes or None,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def _add_metadata(path: Path, predictor: Predictor, normalization: bool) -> None:
    """Labels, task and settings inside the graph, so model.onnx is usable on its own."""
    import onnx

    model = onnx.load(str(path))
    entries = {
        "task": predictor.task,
        "model_name": str(predictor.meta.get("model_name")),
        "labels": json.dumps(predictor.labels),
        "settings": json.dumps(predictor.settings, default=str),
        "enable_onnx_normalization": json.dumps(normalization),
    }
    for key, value in entries.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, str(path))


def sample_images(n: int, seed: int = 0) -> list[Image.Image]:
    """Deterministic RGB test images of different sizes and content (gradients + noise)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        height, width = 96 + 17 * i, 128 - 11 * i
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
        noise = rng.normal(0, 25, size=base.shape)
        images.append(Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB"))
    return images


def check_parity(
    program: OnnxProgram, path: Path, images: list[Image.Image], batch_size: int, dynamic: bool
) -> list[dict]:
    """Run PyTorch and ONNX Runtime on the same graph inputs; one record per batch."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # shape warnings of per-image detection outputs are noise
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    sizes = [1, len(images)] if dynamic and len(images) > 1 else [batch_size]
    checks = []
    for size in sizes:
        inputs = program.inputs(images[:size])
        with torch.inference_mode():
            expected = _flatten(program.module(*inputs))
        feeds = {name: t.numpy() for name, t in zip(program.input_names, inputs, strict=True)}
        actual = session.run(None, feeds)
        if len(expected) == len(actual) and _per_image_names(program.output_names):
            checks.append(_compare_detections(program, expected, actual, size))
        else:
            checks.append(_compare(expected, actual, program.tolerance, size))
    return checks


def _flatten(outputs) -> list[np.ndarray]:
    if isinstance(outputs, torch.Tensor):
        return [outputs.float().numpy()]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    return [array for item in outputs for array in _flatten(item)]


def _compare(expected: list[np.ndarray], actual: list[np.ndarray], atol: float, size: int) -> dict:
    if len(expected) != len(actual):
        return {
            "batch": size,
            "ok": False,
            "max_abs_diff": float("inf"),
            "problem": f"{len(actual)} outputs, PyTorch gives {len(expected)}",
        }
    worst, ok = 0.0, True
    for want, got in zip(expected, actual, strict=True):
        got = np.asarray(got, dtype=np.float64)
        if want.shape != got.shape:
            return {
                "batch": size,
                "ok": False,
                "max_abs_diff": float("inf"),
                "problem": f"output shape {got.shape}, PyTorch gives {want.shape}",
            }
        diff = np.abs(want - got)
        worst = max(worst, float(diff.max(initial=0.0)))
        ok &= bool(np.all(diff <= atol + PARITY_RTOL * np.abs(want)))
    return {"batch": size, "ok": ok, "max_abs_diff": worst}


TOP_K = 20  # detections compared per image: the confident ones a user acts on
BOX_TOLERANCE_PX = 0.05  # boxes are in input pixels, so their tolerance is too


def _per_image_names(names: list[str]) -> dict[int, dict[str, int]]:
    """{image: {field: output index}} for names like `boxes_0` with a `scores_i`; else {}."""
    groups: dict[int, dict[str, int]] = {}
    for position, name in enumerate(names):
        field, _, image = name.rpartition("_")
        if not image.isdigit():
            return {}
        groups.setdefault(int(image), {})[field] = position
    return groups if all("scores" in g and "boxes" in g for g in groups.values()) else {}


def _compare_detections(program: OnnxProgram, expected: list, actual: list, size: int) -> dict:
    """Per image, each of PyTorch's top detections must have an ONNX twin (same label, score
    and box within tolerance): NMS may order ties differently, so order is not compared."""
    worst, problems = 0.0, []
    for image, fields in _per_image_names(program.output_names).items():
        want = {field: expected[i] for field, i in fields.items()}
        got = {field: np.asarray(actual[i]) for field, i in fields.items()}
        diff, problem = _match_detections(want, got, program.tolerance)
        worst = max(worst, diff)
        if problem:
            problems.append(f"image {image}: {problem}")
    record = {"batch": size, "ok": not problems, "max_abs_diff": worst}
    if problems:
        record["problem"] = "; ".join(problems)
    return record


def _match_detections(want: dict, got: dict, atol: float) -> tuple[float, str | None]:
    n_want, n_got = len(want["scores"]), len(got["scores"])
    # a detection at the score threshold may fall either side of it
    if abs(n_want - n_got) > max(1, n_want // 10):
        return float("inf"), f"{n_got} detections, PyTorch gives {n_want}"
    free = set(range(n_got))
    worst = 0.0
    # near-ties at the last kept score (box_detections_per_img) may keep either detection
    floor = float(got["scores"].min()) + atol if n_got == n_want and n_got else -np.inf
    for i in np.argsort(-want["scores"], kind="stable")[:TOP_K]:
        if want["scores"][i] <= floor:
            break
        j, diff = _closest_twin(want, got, int(i), free, atol)
        if j is None:
            return float("inf"), f"no ONNX detection matches PyTorch's {want['boxes'][i]}"
        free.discard(j)
        worst = max(worst, diff)
    return worst, None


def _closest_twin(want: dict, got: dict, i: int, free: set, atol: float):
    """(index, difference) of the free ONNX detection closest to PyTorch's detection i."""
    best, best_diff = None, float("inf")
    for j in free:
        if "labels" in want and int(want["labels"][i]) != int(got["labels"][j]):
            continue
        score_diff = abs(float(want["scores"][i]) - float(got["scores"][j]))
        box_diff = float(np.abs(want["boxes"][i] - got["boxes"][j]).max())
        mask_diff = 0.0
        if "masks" in want:  # soft masks: a few edge pixels differ in the paste-back
            mask_diff = float(np.abs(want["masks"][i] - got["masks"][j]).mean())
        if score_diff <= atol and box_diff <= BOX_TOLERANCE_PX and mask_diff <= atol:
            diff = max(score_diff, box_diff, mask_diff)
            if diff < best_diff:
                best, best_diff = j, diff
    return best, best_diff
