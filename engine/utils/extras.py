"""Optional dependencies (pyproject.toml's extras), imported only where they are used.

`require(module, extra, what)` imports `module`, or stops the command with one line:
`<what> needs the '<extra>' extra: pip install 'automl-vision[<extra>]'`.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from automl.engine.errors import AutomlError

DISTRIBUTION = "automl-vision"


class MissingExtraError(AutomlError, ImportError):
    """A command needs an optional dependency that is not installed. Also an ImportError,
    so code that probes for optional parts (`pytest.importorskip`, `try: import`) still
    sees a missing module."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(missing_extra_message(what, extra))
        self.extra = extra


def missing_extra_message(what: str, extra: str) -> str:
    """The one line a missing extra gives."""
    return f"{what} needs the '{extra}' extra: {install_command(extra)}"


def install_command(extra: str) -> str:
    """The pip command that installs `extra`."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(module: str, extra: str, what: str) -> ModuleType:
    """`importlib.import_module(module)`, or MissingExtraError naming `extra`.

    A module that is installed but fails to import for another reason (a broken build)
    still raises its own error: only a missing module, or one of its own missing
    dependencies, means the extra is absent."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(what, extra) from exc


# extra -> the module whose import proves it installed (for data that names an extra:
# models.json's families, a job's keys)
EXTRA_MODULES = {
    "serve": "fastapi",
    "explain": "captum",
    "export": "onnx",
    "postgres": "psycopg",
    "remote": "fsspec",
    "coco": "pycocotools",
    "yolo": "ultralytics",
    "tracking": "mlflow",
    "transformers": "transformers",
}


def require_extra(extra: str, what: str) -> ModuleType:
    """`require` of the extra's main module."""
    return require(EXTRA_MODULES[extra], extra, what)


def check_installed(module: str, extra: str, what: str) -> None:
    """MissingExtraError when `module` is not installed, found without importing it: a
    pre-flight check in the CLI process must neither pay for the import nor let the library
    print (Ultralytics writes a settings banner to stdout on its first import)."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(what, extra)


def check_extra(extra: str, what: str) -> None:
    """`check_installed` of the extra's main module."""
    check_installed(EXTRA_MODULES[extra], extra, what)
