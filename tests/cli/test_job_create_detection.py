"""`automl job create` end to end for the object tasks: tiny torchvision detectors, one short
epoch on the bundled raccoon (detection) and coco_seg (segmentation) images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _support.jobs import write_job

PACKAGE_FILES = ["model.pt", "settings.json", "labels.json", "MLmodel", "requirements.txt"]

# Faster R-CNN runs tiled (tiling adds to what a plain run checks; whole-image detection
# training runs with RetinaNet, the same torchvision trainer)
CASES = {
    "retinanet": ("image_object_detection", "test_tiny_retinanet", {}),
    "maskrcnn": ("image_instance_segmentation", "test_tiny_maskrcnn", {}),
    "tiled": (
        "image_object_detection",
        "test_tiny_fasterrcnn",
        {"tile_grid_size": "2x1", "validation_metric_type": "coco_voc"},
    ),
}


def run_job(tmp_path, cli, case: str):
    task, model, extra = CASES[case]
    job = write_job(tmp_path, task, model=model, **extra)
    run_dir = tmp_path / "run"
    code, out, err = cli(["job", "create", "--file", job, "--run-dir", run_dir, "-o", "json"])
    assert code == 0, err
    return json.loads(out), run_dir


@pytest.mark.parametrize("case", sorted(CASES))
def test_job_create_trains_a_detector(tmp_path, cli, case):
    task, model, _ = CASES[case]
    torch.set_num_threads(1)
    summary, run_dir = run_job(tmp_path, cli, case)
    assert summary["status"] == "completed" and summary["task"] == task
    assert summary["primary_metric"]["name"] == "mean_average_precision"
    trial = summary["trials"][0]
    assert trial["state"] == "complete" and trial["epochs_completed"] == 1, trial["error"]
    assert 0.0 <= trial["score"] <= 1.0

    trial_dir = run_dir / "trials" / "0"
    line = json.loads((trial_dir / "metrics.jsonl").read_text().splitlines()[-1])
    valid = line["valid"]
    assert {"mean_average_precision", "precision", "recall", "log_loss"} <= set(valid)
    assert line["train"]["loss"] > 0
    result = json.loads((trial_dir / "result.json").read_text())
    assert result["score"] == valid["mean_average_precision"]
    labels = json.loads((run_dir / "best_model" / "labels.json").read_text())
    assert [row["class_name"] for row in result["details"]["per_label_metrics"]] == labels
    for name in PACKAGE_FILES:
        assert (run_dir / "best_model" / name).is_file(), name
    assert (trial_dir / "checkpoints" / "last.pt").is_file()
    assert (trial_dir / "plots" / "mean_average_precision.png").is_file()

    settings = json.loads((run_dir / "best_model" / "settings.json").read_text())
    assert settings["min_size"] == 96 and settings["box_score_thresh"] == 0.01
    assert settings["nms_iou_thresh"] == 0.5 and settings["box_detections_per_img"] == 20
    if case == "tiled":
        assert settings["tile_grid_size"] == "2x1"
        assert settings["tile_predictions_nms_thresh"] == 0.25
        assert "AP_50" in valid["coco_metrics"]
    check_predictions(run_dir / "best_model", task, labels)


def check_predictions(model_dir: Path, task: str, labels: list[str]) -> None:
    from PIL import Image

    from automl.engine.predict import Predictor

    predictor = Predictor.from_package(model_dir, settings={"box_score_thresh": 0.0})
    images = [Image.new("RGB", (120, 90), (120, 100, 80)), Image.new("RGB", (64, 64))]
    responses = predictor.predict(images)
    assert len(responses) == 2
    for response in responses:
        for box in response["boxes"]:
            assert box["label"] in labels and 0.0 <= box["score"] <= 1.0
            coords = box["box"]
            assert 0.0 <= coords["topX"] <= coords["bottomX"] <= 1.0
            assert 0.0 <= coords["topY"] <= coords["bottomY"] <= 1.0
            if task == "image_instance_segmentation":
                assert isinstance(box["polygon"], list)
                assert all(0.0 <= v <= 1.0 for polygon in box["polygon"] for v in polygon)


def test_detection_job_on_classification_data_is_refused(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("AUTOML_STANDBY", "0")  # refused at data preparation: no trial starts
    job = write_job(tmp_path, "image_object_detection", data="flowers5")
    code, _, err = cli(["job", "create", "--file", job, "--run-dir", tmp_path / "run"])
    assert code == 1
    assert "is not a list of objects" in err and "image_object_detection" in err
