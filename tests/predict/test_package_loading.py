"""Loading a package for predictions: unsafe, corrupt or incomplete packages and bad
`--setting` overrides are one-line errors, in the API and as a shell user sees them."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from automl.engine.errors import AutomlError
from automl.engine.models import build_model, write_model_package
from automl.engine.predict import Predictor

PARAMS = {"validation_resize_size": 40, "validation_crop_size": 32, "training_crop_size": 32}
AUTOML = str(Path(sys.executable).with_name("automl"))
IMAGES = Path(__file__).resolve().parents[2] / "examples" / "data" / "flowers5" / "valid"


@pytest.fixture
def package(tmp_path):
    return write_model_package(
        tmp_path / "cnn",
        build_model("test_tiny_cnn", 3, pretrained=False),
        task="image_classification",
        model_name="test_tiny_cnn",
        labels=["a", "b", "c"],
        training_parameters=PARAMS,
    )


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [AUTOML, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "weights_only" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], result.stderr


def write_unsafe_model_file(folder: Path, marker: Path) -> None:
    class Exploit:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    with open(folder / "model.pt", "wb") as handle:
        pickle.dump({"format_version": 1, "x": Exploit()}, handle)


def test_predict_on_an_unsafe_model_file_is_one_line(package, tmp_path):
    """Issue 16: the raw UnpicklingError with torch's weights_only=False advice."""
    marker = tmp_path / "executed"
    write_unsafe_model_file(package, marker)
    result = run_cli("model", "predict", str(package), "--input", str(IMAGES), cwd=tmp_path)
    assert_one_line_error(result, "model.pt", "objects other than tensors")
    assert not marker.exists()


def test_predict_on_a_truncated_model_file_is_one_line(package, tmp_path):
    data = (package / "model.pt").read_bytes()
    (package / "model.pt").write_bytes(data[:100])
    result = run_cli("model", "predict", str(package), "--input", str(IMAGES), cwd=tmp_path)
    assert_one_line_error(result, "model.pt", "truncated or corrupt")


def test_predict_with_a_malformed_settings_json_is_one_line(package, tmp_path):
    (package / "settings.json").write_text('{"valid_crop_size": "big"}')
    result = run_cli("model", "predict", str(package), "--input", str(IMAGES), cwd=tmp_path)
    assert_one_line_error(result, "settings.json", "valid_crop_size")


def test_bad_setting_override_is_refused(package):
    with pytest.raises(AutomlError, match="--setting: valid_resize_size='x'"):
        Predictor.from_package(package, settings={"valid_resize_size": "x"})


def test_recorded_settings_without_a_needed_key(package):
    record = torch.load(package / "model.pt", weights_only=True)
    del record["settings"]["valid_resize_size"]
    torch.save(record, package / "model.pt")
    settings = json.loads((package / "settings.json").read_text())
    del settings["valid_resize_size"]
    (package / "settings.json").write_text(json.dumps(settings))
    with pytest.raises(AutomlError, match="settings lack 'valid_resize_size'"):
        Predictor.from_package(package)


def test_serve_on_an_unsafe_model_file_is_one_line(package, tmp_path):
    marker = tmp_path / "executed"
    write_unsafe_model_file(package, marker)
    result = run_cli("model", "serve", str(package), "--port", "0", cwd=tmp_path)
    assert_one_line_error(result, "model.pt", "not a model package this tool wrote")
    assert not marker.exists()
