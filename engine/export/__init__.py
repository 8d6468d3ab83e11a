"""Model export: ONNX with Azure's input/output names (reference §11), parity-checked.

Public names: `export_onnx(predictor, output, *, batch_size, dynamic_batch, opset,
normalization, images, tolerance) -> ExportResult`, `ExportError`, `sample_images(n)`.
"""

from __future__ import annotations

from automl.engine.export._onnx import (
    DEFAULT_OPSET,
    ExportError,
    ExportResult,
    check_parity,
    export_onnx,
    sample_images,
)

__all__ = [
    "DEFAULT_OPSET",
    "ExportError",
    "ExportResult",
    "check_parity",
    "export_onnx",
    "sample_images",
]
