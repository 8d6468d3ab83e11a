"""`automl weights list` and `automl weights fetch` (offline paths only)."""

from __future__ import annotations

import json

from automl.engine.models import _weights

ULTRALYTICS_WEIGHTS_DIR = "automl.engine.utils.library_caches.ultralytics_weights_dir"


def test_weights_list_json_names_every_model(cli):
    code, out, _ = cli(["weights", "list", "--output", "json"])
    assert code == 0
    rows = {row["model"]: row for row in json.loads(out)}
    assert rows["resnet18"]["source"] == "torchvision"
    assert rows["seresnext"]["weights"] == "seresnext50_32x4d.racm_in1k"
    assert rows["test_tiny_cnn"]["weights"] is None


def test_weights_fetch_offline_says_what_to_do(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(_weights, "url_reachable", lambda *a, **k: False)
    code, _, err = cli(["weights", "fetch", "resnet34"])
    assert code == 1
    assert "resnet34" in err and str(tmp_path) in err


def test_weights_fetch_unknown_name_suggests(cli):
    code, _, err = cli(["weights", "fetch", "resnet35"])
    assert code == 1 and "did you mean" in err


def test_weights_fetch_takes_the_yolo_model_size(cli, tmp_path, monkeypatch):
    """`automl job validate` names `automl weights fetch yolov8 --model-size small`."""
    monkeypatch.setattr(_weights, "url_reachable", lambda *a, **k: False)
    monkeypatch.setattr(
        "automl.engine.utils.library_caches.ultralytics_weights_dir", lambda: tmp_path
    )
    code, _, err = cli(["weights", "fetch", "yolov8", "--model-size", "small"])
    assert code == 1 and "yolov8s.pt" in err
