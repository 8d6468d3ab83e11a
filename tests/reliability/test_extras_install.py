"""Lean installs: each optional dependency (pyproject.toml's extras) is imported only where
it is used, a command that needs a missing one says the one `pip install` line to run, and
the core dependencies alone run `automl job create`.

Nothing is uninstalled: a `sitecustomize.py` put on the child's PYTHONPATH wraps every
meta-path finder so that the named top-level modules are not found, in the `automl`
process and in every trial it starts (they inherit the environment).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from _support.jobs import write_job
from _support.paths import AUTOML, BUNDLED_DATA_DIR

HIDE_ENV = "AUTOML_TEST_HIDDEN_MODULES"
BLOCKER = f"""
import os, sys

HIDDEN = frozenset(filter(None, os.environ.get({HIDE_ENV!r}, "").split(",")))


class _Hiding:
    # Wraps a finder: the hidden top-level modules (and theirs) are not found, as when
    # not installed (importlib.util.find_spec gives None, import ModuleNotFoundError).
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)


sys.meta_path[:] = [_Hiding(finder) for finder in sys.meta_path]
"""
# The venv's own tools (pip puts them in every venv; 'python -m venv' on 3.11 adds setuptools)
VENV_TOOLS = {"pip", "setuptools", "wheel", "pkg_resources", "_distutils_hack"}
ONE_LINE = re.compile(r"^error: .+ needs the '(\w+)' extra: pip install 'automl-vision\[\1\]'$")


def automl_hiding(
    args: list[str], hidden: set[str], tmp_path: Path, timeout: float = 300, cwd=None
) -> subprocess.CompletedProcess:
    """The installed `automl` console script with `hidden` top-level modules unimportable."""
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, HIDE_ENV: ",".join(sorted(hidden)), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run(
        [AUTOML, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd or tmp_path,
    )


def assert_one_line(result: subprocess.CompletedProcess, extra: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), result.stderr
    assert ONE_LINE.match(lines[0]).group(1) == extra
    assert "Traceback" not in result.stderr


def first_image() -> Path:
    return sorted((BUNDLED_DATA_DIR / "flowers5" / "valid").rglob("*.jpg"))[0]


# --- (a) a missing extra: one line, exit 1, no traceback ----------------------------------


@pytest.mark.slow
def test_serve_without_the_serve_extra(tmp_path, classification_run):
    model = classification_run / "best_model"
    result = automl_hiding(["model", "serve", model, "--port", "0"], {"fastapi"}, tmp_path)
    assert_one_line(result, "serve")


def test_export_without_the_export_extra(tmp_path, classification_run):
    model = classification_run / "best_model"
    args = ["model", "export", model, "--output-file", tmp_path / "m.onnx"]
    result = automl_hiding(args, {"onnx", "onnxruntime"}, tmp_path)
    assert_one_line(result, "export")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
def test_explain_without_the_explain_extra(tmp_path, classification_run):
    model = classification_run / "best_model"
    args = ["model", "explain", model, "--input", first_image(), "--output-dir", tmp_path / "x"]
    result = automl_hiding(args, {"captum", "saliency"}, tmp_path)
    assert_one_line(result, "explain")


@pytest.mark.parametrize(
    ("options", "hidden", "extra"),
    [
        ({"model": "test_tiny_yolo"}, {"ultralytics"}, "yolo"),
        ({"validation_metric_type": "coco"}, {"pycocotools"}, "coco"),
    ],
    ids=["yolo", "coco"],
)
def test_job_create_stops_before_its_data(tmp_path, options, hidden, extra):
    job = write_job(tmp_path, "image_object_detection", **options)
    run_dir = tmp_path / "run"
    result = automl_hiding(["job", "create", "-f", job, "--run-dir", run_dir], hidden, tmp_path)
    assert_one_line(result, extra)
    assert not (run_dir / "job.yml").exists()  # no run was recorded


def test_postgres_storage_without_the_postgres_extra(tmp_path):
    job = write_job(tmp_path)
    args = ["job", "create", "-f", job, "--storage", "postgresql://nobody@127.0.0.1:1/none"]
    result = automl_hiding(args, {"psycopg"}, tmp_path)
    assert_one_line(result, "postgres")
    assert not (tmp_path / "runs").exists()  # stopped before a run directory was made


def test_object_storage_urls_without_the_remote_extra(monkeypatch):
    from automl.engine.data.remote import check_filesystem
    from automl.engine.utils.extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "fsspec", None)  # `import fsspec` fails as if absent
    with pytest.raises(MissingExtraError, match=r"needs the 'remote' extra"):
        check_filesystem("memory://bucket/a.jpg")
    with pytest.raises(MissingExtraError, match=r"automl-vision\[s3\]"):
        check_filesystem("s3://bucket/a.jpg")
    check_filesystem("https://example.com/a.jpg")  # http(s) needs no extra


def test_import_automl_loads_no_heavy_library():
    code = (
        "import sys, automl, automl.cli.main; "
        "heavy = {'torch', 'fastapi', 'ultralytics', 'captum', 'onnx', 'mlflow', 'transformers'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


# --- (b) the core dependencies alone run `job create` -------------------------------------


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def core_distributions() -> set[str]:
    """pyproject.toml's `dependencies` (the installed metadata's requirements outside any
    extra) and everything they require, as installed here."""
    from packaging.requirements import Requirement

    own = [Requirement(text) for text in metadata.requires("automl-vision") or []]
    seen = {"automl-vision"}
    pending = [req for req in own if not req.marker or req.marker.evaluate({"extra": ""})]
    while pending:
        requirement = pending.pop()
        name = _canonical(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate()):
            continue
        seen.add(name)
        extras = {"", *requirement.extras}
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            if not child.marker or any(child.marker.evaluate({"extra": e}) for e in extras):
                pending.append(Requirement(str(child).split(";")[0]))
    return seen


def non_core_modules() -> set[str]:
    """Top-level modules installed here that no core distribution provides."""
    core = core_distributions()
    hidden = set()
    for module, dists in metadata.packages_distributions().items():
        if not any(_canonical(dist) in core for dist in dists):
            hidden.add(module)
    return hidden - VENV_TOOLS - set(sys.stdlib_module_names)


def test_the_hidden_set_is_every_extra():
    """The blocker hides what the extras bring, and nothing the core needs."""
    hidden = non_core_modules()
    assert {"fastapi", "uvicorn", "captum", "onnx", "onnxruntime", "pycocotools"} <= hidden
    assert {"psycopg", "ultralytics", "mlflow", "saliency", "skimage"} <= hidden
    assert not {"torch", "torchvision", "optuna", "timm", "PIL", "numpy", "typer"} & hidden


@pytest.mark.slow
def test_job_create_runs_on_the_core_install(tmp_path):
    """`job create`, `model register` and `model predict` with every module that only an
    extra installs hidden. (A fresh venv with `pip install -e .` would also prove the
    metadata, but installs torch again: minutes, past CI's budget.)"""
    job = write_job(tmp_path, name="core-only")
    run_dir = tmp_path / "run"
    args = ["job", "create", "-f", job, "--run-dir", run_dir, "--output", "json"]
    result = automl_hiding(args, non_core_modules(), tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (run_dir / "best_model" / "model.pt").is_file()
    register = ["model", "register", "--name", "core", "--path", run_dir / "best_model"]
    result = automl_hiding(register, non_core_modules(), tmp_path)
    assert result.returncode == 0, result.stderr
    predict = ["model", "predict", "core:1", "-i", first_image()]
    predict += ["--output-file", tmp_path / "preds.jsonl"]
    result = automl_hiding(predict, non_core_modules(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "preds.jsonl").read_text().count("\n") == 1
