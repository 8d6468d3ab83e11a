"""The Ultralytics adapter's parts: trainer routing, dataset conversion (cached by content),
and the mapping of Azure hyperparameters to Ultralytics arguments."""

from __future__ import annotations

import json

import pytest
import torch

from automl.engine.config import resolve_trial_parameters
from automl.engine.data.manifest import write_manifest
from automl.engine.training._yolo import (
    YoloTrainingSettings,
    prepare_yolo_dataset,
    ultralytics_arguments,
)
from automl.engine.training.loop import Device
from automl.engine.training.trainers import TrialInputs, trainer_for

DETECT = "image_object_detection"


def make_spec(tmp_path, task=DETECT, **params) -> dict:
    from PIL import Image

    image = tmp_path / "img.jpg"
    Image.new("RGB", (40, 30)).save(image)
    box = {"label": "b", "topX": 0.1, "topY": 0.2, "bottomX": 0.5, "bottomY": 0.6, "isCrowd": 0}
    crowd = {**box, "label": "a", "isCrowd": 1}
    if task != DETECT:
        box = {"label": "b", "isCrowd": 0, "polygon": [[0.1, 0.2, 0.5, 0.2, 0.5, 0.6]]}
        crowd = {**box, "isCrowd": 1}
    data = tmp_path / "data"
    write_manifest(data / "train.jsonl", [{"image_url": str(image), "label": [box, crowd]}])
    write_manifest(data / "valid.jsonl", [{"image_url": str(image), "label": []}])
    model = "test_tiny_yolo" if task == DETECT else "test_tiny_yolo_seg"
    return {
        "version": 1,
        "task": task,
        "device": "cpu",
        "trial_dir": str(tmp_path / "trial"),
        "primary_metric": {"name": "mean_average_precision", "goal": "maximize"},
        "data": {
            "labels": ["a", "b"],
            "train_manifest": str(data / "train.jsonl"),
            "valid_manifest": str(data / "valid.jsonl"),
        },
        "training_parameters": resolve_trial_parameters(task, {"model_name": model, **params}),
    }


def test_yolo_model_names_route_to_the_yolo_trainer():
    assert type(trainer_for(DETECT, "yolov8")).__name__ == "YoloTrainer"
    assert type(trainer_for("image_instance_segmentation", "yolo11-seg")).__name__ == (
        "YoloTrainer"
    )
    assert type(trainer_for(DETECT, "test_tiny_fasterrcnn")).__name__ == "DetectionTrainer"


@pytest.mark.parametrize("task", [DETECT, "image_instance_segmentation"])
def test_dataset_is_converted_once_per_content(tmp_path, task):
    spec = make_spec(tmp_path, task)
    data_yaml = prepare_yolo_dataset(TrialInputs.from_spec(spec))
    text = data_yaml.read_text()
    assert "train: images/train" in text and '1: "b"' in text and str(data_yaml.parent) in text
    (line,) = (data_yaml.parent / "labels" / "train").glob("*.txt")
    values = line.read_text().split()  # the crowd object is not training data
    if task == DETECT:
        assert values == ["1", "0.300000", "0.400000", "0.400000", "0.400000"]
    else:
        assert values[0] == "1" and len(values) == 7
    assert (data_yaml.parent / "images" / "valid").iterdir()
    assert prepare_yolo_dataset(TrialInputs.from_spec(spec)) == data_yaml  # cached
    write_manifest(spec["data"]["valid_manifest"], [])
    assert prepare_yolo_dataset(TrialInputs.from_spec(spec)) != data_yaml  # new content


def test_hyperparameters_map_to_ultralytics_arguments(tmp_path):
    advanced = json.dumps(
        {"apply_mosaic_for_yolo": False, "apply_automl_train_augmentations": False}
    )
    spec = make_spec(
        tmp_path,
        image_size=100,
        multi_scale=True,
        optimizer="adamw",
        learning_rate=0.002,
        number_of_epochs=3,
        training_batch_size=4,
        gradient_accumulation_step=2,
        layers_to_freeze=3,
        random_seed=7,
        box_score_threshold=0.2,
        nms_iou_threshold=0.6,
        advanced_settings=advanced,
    )
    settings = YoloTrainingSettings.from_parameters(spec["training_parameters"])
    args = ultralytics_arguments(
        TrialInputs.from_spec(spec), settings, tmp_path / "data.yaml", Device(torch.device("cpu"))
    )
    assert args["imgsz"] == 128 and args["multi_scale"] == 0.5
    assert (args["optimizer"], args["lr0"], args["epochs"]) == ("AdamW", 0.002, 3)
    assert (args["batch"], args["nbs"], args["freeze"]) == (4, 8, 3)
    assert (args["seed"], args["deterministic"]) == (7, True)
    assert (args["conf"], args["iou"]) == (0.2, 0.6)
    assert args["mosaic"] == 0.0 and args["fliplr"] == 0.0 and args["scale"] == 0.0
    assert args["amp"] is False and args["plots"] is False and args["pretrained"] is False
