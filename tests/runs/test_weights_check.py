"""Pretrained weights a job needs are checked before any training (nothing is downloaded)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from automl.engine import config
from automl.engine.models import WeightsUnavailableError
from automl.engine.runs import weights_check
from automl.engine.runs.weights_check import (
    pretrained_models,
    require_weights,
    weights_warnings,
)

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
HEAD = f"""\
type: automl
task: {{task}}
target_column_name: label
training_data: {{{{type: mltable, path: {DATA}/flowers5/train}}}}
validation_data: {{{{type: mltable, path: {DATA}/flowers5/valid}}}}
"""


@pytest.fixture(autouse=True)
def _empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def load(tmp_path, body: str, task: str = "image_classification"):
    path = tmp_path / "job.yml"
    path.write_text(HEAD.format(task=task) + body)
    return config.load_job(path, check_paths=False)


def test_a_sweep_needs_every_pretrained_choice(tmp_path):
    job = load(
        tmp_path,
        "sweep: {sampling_algorithm: random}\n"
        "limits: {max_trials: 4}\n"
        "search_space:\n"
        "  - model_name: {type: choice, values: [resnet18, test_tiny_cnn]}\n"
        "  - model_name: mobilenetv2\n"
        "    pretrained: false\n",
    )
    assert pretrained_models(job) == [("resnet18", None), ("test_tiny_cnn", None)]


def test_pretrained_false_needs_nothing(tmp_path):
    job = load(tmp_path, "training_parameters: {model_name: resnet18, pretrained: false}\n")
    assert pretrained_models(job) == [] and weights_warnings(job) == []


def test_automode_needs_its_portfolio(tmp_path, monkeypatch):
    monkeypatch.setattr(weights_check, "_cuda_available", lambda: False)
    job = load(tmp_path, "limits: {max_trials: 4}\n")
    assert [name for name, _ in pretrained_models(job)] == ["mobilenetv2", "resnet18"]


def test_yolo_needs_the_file_of_its_size(tmp_path):
    job = load(
        tmp_path,
        "training_parameters: {model_name: yolov8, model_size: small}\n",
        task="image_object_detection",
    )
    assert pretrained_models(job) == [("yolov8", "small")]
    assert weights_check.fetch_commands([{"model": "yolov8", "size": "small"}]) == [
        "automl weights fetch yolov8 --model-size small"
    ]


def test_validate_warning_names_the_fetch_command(tmp_path):
    job = load(tmp_path, "training_parameters: {model_name: resnet18}\n")
    (warning,) = weights_warnings(job)
    assert "resnet18" in warning and "`automl weights fetch resnet18`" in warning


def test_cached_weights_need_no_warning_and_no_probe(tmp_path, monkeypatch):
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stand-in")
    monkeypatch.setattr("automl.engine.models._weights.url_reachable", _no_network_allowed)
    job = load(tmp_path, "training_parameters: {model_name: resnet18}\n")
    assert weights_warnings(job) == []
    require_weights(job)


def test_create_fails_before_training_when_weights_cannot_be_downloaded(tmp_path, monkeypatch):
    probes = []
    monkeypatch.setattr(
        "automl.engine.models._weights.url_reachable", lambda url, **_: probes.append(url)
    )
    job = load(
        tmp_path,
        "sweep: {sampling_algorithm: grid}\nlimits: {max_trials: 2}\nsearch_space:\n"
        "  - model_name: {type: choice, values: [resnet18, mobilenetv2, seresnext]}\n",
    )
    with pytest.raises(WeightsUnavailableError, match="cannot be downloaded") as info:
        require_weights(job)
    message = str(info.value)
    assert "`automl weights fetch resnet18 mobilenetv2 seresnext`" in message
    assert "seresnext: HF_HUB_OFFLINE is set" in message
    assert len(probes) == 1  # one probe per download site (timm's is skipped offline)


def test_the_child_check_reports_what_is_missing(tmp_path):
    """The check `job create` runs in a child process (torch stays out of the controller)."""
    env = {**_env(), "TORCH_HOME": str(tmp_path / "torch"), "https_proxy": "http://127.0.0.1:9"}
    child = subprocess.run(
        [sys.executable, "-c", weights_check._CHILD_CODE],
        input=json.dumps([["resnet18", None]]),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    (record,) = json.loads(child.stdout)
    assert record["model"] == "resnet18" and "did not answer" in record["reason"]


def _no_network_allowed(url, **_):
    raise AssertionError(f"probed {url}")


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy")}


def test_validate_checks_weights_without_importing_torch(tmp_path):
    """`job validate`'s weights check reads schemas/weights.json and the caches' folders:
    no torch (seconds and most of a GB), no Ultralytics."""
    path = tmp_path / "job.yml"
    path.write_text(
        HEAD.format(task="image_object_detection")
        + "sweep: {sampling_algorithm: grid}\nlimits: {max_trials: 2}\nsearch_space:\n"
        "  - {model_name: yolov8, model_size: small}\n"
        "  - {model_name: fasterrcnn_resnet18_fpn}\n"
    )
    code = (
        "import sys; from automl.engine import config; "
        "from automl.engine.runs.weights_check import weights_warnings; "
        "print(*weights_warnings(config.load_job(sys.argv[1], check_paths=False))); "
        "sys.exit(3 if {'torch', 'ultralytics'} & set(sys.modules) else 0)"
    )
    env = {**_env(), "TORCH_HOME": str(tmp_path / "torch"), "HF_HUB_OFFLINE": "1"}
    env["YOLO_CONFIG_DIR"] = str(tmp_path / "ultralytics")
    child = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert "yolov8 (small)" in child.stdout and "fasterrcnn_resnet18_fpn" in child.stdout
