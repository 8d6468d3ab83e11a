"""`automl job create` end to end for Ultralytics YOLO: tiny YOLO detect and seg models, one
short epoch on the bundled raccoon (detection) and coco_seg (segmentation) images, scored by
our own evaluator and packaged like every other family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _support.jobs import write_job

PACKAGE_FILES = ["model.pt", "settings.json", "labels.json", "MLmodel", "requirements.txt"]

CASES = {
    "detect": ("image_object_detection", "test_tiny_yolo"),
    "segment": ("image_instance_segmentation", "test_tiny_yolo_seg"),
}


@pytest.fixture(autouse=True)
def _ultralytics_state(tmp_path, monkeypatch):
    """Ultralytics' settings file (and its weights and runs dirs) under tmp_path."""
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics_config"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")


def run_job(tmp_path, cli, case: str):
    task, model = CASES[case]
    job = write_job(tmp_path, task, model=model)
    run_dir = tmp_path / "run"
    code, out, err = cli(["job", "create", "--file", job, "--run-dir", run_dir, "-o", "json"])
    assert code == 0, err
    return json.loads(out), run_dir


@pytest.mark.parametrize("case", sorted(CASES))
def test_job_create_trains_yolo(tmp_path, cli, case):
    task, model = CASES[case]
    torch.set_num_threads(1)
    summary, run_dir = run_job(tmp_path, cli, case)
    trial = summary["trials"][0]
    assert summary["status"] == "completed", trial["error"]
    assert trial["state"] == "complete" and trial["epochs_completed"] == 1, trial["error"]
    assert 0.0 <= trial["score"] <= 1.0

    trial_dir = run_dir / "trials" / "0"
    line = json.loads((trial_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"mean_average_precision", "precision", "recall"} <= set(line["valid"])
    assert line["valid"]["log_loss"] > 0  # Ultralytics' loss on the validation set
    assert line["train"]["loss"] > 0 and line["epoch"] == 1
    result = json.loads((trial_dir / "result.json").read_text())
    assert result["score"] == line["valid"]["mean_average_precision"]
    labels = json.loads((run_dir / "best_model" / "labels.json").read_text())
    assert [row["class_name"] for row in result["details"]["per_label_metrics"]] == labels
    for name in PACKAGE_FILES:
        assert (run_dir / "best_model" / name).is_file(), name
    status = json.loads((trial_dir / "status.json").read_text())
    assert status["state"] == "complete" and status["n_steps"] >= 1

    settings = json.loads((run_dir / "best_model" / "settings.json").read_text())
    assert settings["img_size"] == 64 and settings["box_score_thresh"] == 0.001
    assert settings["model_size"] == "medium" and settings["nms_iou_thresh"] == 0.5
    assert "min_size" not in settings
    record = torch.load(run_dir / "best_model" / "model.pt", weights_only=True)
    assert record["model_name"] == model and record["model_yaml"]["nc"] == len(labels)
    check_predictions(run_dir / "best_model", task, labels)
    assert list((run_dir / "data" / "yolo").glob("*/data.yaml"))  # converted once, cached


def check_predictions(model_dir: Path, task: str, labels: list[str]) -> None:
    from PIL import Image

    from automl.engine.predict import Predictor

    predictor = Predictor.from_package(model_dir, settings={"box_score_thresh": 0.0})
    assert type(predictor.task_predictor).__name__.startswith("Yolo")
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
