"""Model export: ONNX with Azure's input/output names (docs/azure-compatibility.md §11),
parity-checked.

Public names: `export_onnx(predictor, output, *, batch_size, dynamic_batch, opset,
normalization, images, tolerance) -> ExportResult`, `ExportError`, `sample_images(n)`.
"""

from __future__ import annotations

from automl.engine.utils.extras import require

# Every export writes and checks an ONNX graph: the `export` extra, checked on import so
# that `automl model export` says so before it loads the model.
require("onnx", "export", "ONNX export")
require("onnxruntime", "export", "ONNX export")

from automl.engine.export._onnx import (  # noqa: E402
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
