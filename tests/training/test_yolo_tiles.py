"""YOLO training on tiles (reference §9): the converted training set holds every image
plus its annotated tiles with labels relative to the tile; validation stays full images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from automl.engine.config import resolve_trial_parameters
from automl.engine.data.converters._yolo_export import dataset_key
from automl.engine.data.manifest import write_manifest
from automl.engine.errors import TrialError
from automl.engine.training._yolo import prepare_yolo_dataset, yolo_export
from automl.engine.training.trainers import TrialInputs

RACCOON = Path(__file__).resolve().parents[2] / "examples" / "data" / "raccoon"
DETECT = "image_object_detection"


def raccoon_rows(split: str, count: int) -> list[dict]:
    """The first `count` rows of the bundled raccoon split, image paths made absolute."""
    folder = RACCOON / split
    lines = (folder / "annotations.jsonl").read_text().splitlines()[:count]
    rows = [json.loads(line) for line in lines]
    return [{**row, "image_url": str(folder / row["image_url"])} for row in rows]


def yolo_trial_spec(tmp_path: Path, task: str = DETECT, **params) -> dict:
    """A tiny YOLO trial on 4 + 2 raccoon images at 64 px (spec.json contract)."""
    data = tmp_path / "data"
    write_manifest(data / "train.jsonl", raccoon_rows("train", 4))
    write_manifest(data / "valid.jsonl", raccoon_rows("valid", 2))
    chosen = {
        "model_name": "test_tiny_yolo",
        "pretrained": False,
        "number_of_epochs": 1,
        "training_batch_size": 4,
        "validation_batch_size": 4,
        "image_size": 64,
        "box_score_threshold": 0.001,
        "number_of_workers": 0,
        "random_seed": 1,
        **params,
    }
    trial_dir = tmp_path / "run" / "trials" / "0"
    return {
        "version": 1,
        "job_name": "test-job",
        "run_dir": str(trial_dir.parent.parent),
        "trial_number": 0,
        "trial_dir": str(trial_dir),
        "task": task,
        "primary_metric": {"name": "mean_average_precision", "goal": "maximize"},
        "training_parameters": resolve_trial_parameters(task, chosen),
        "params": {},
        "data": {
            "train_manifest": str(data / "train.jsonl"),
            "valid_manifest": str(data / "valid.jsonl"),
            "labels": ["raccoon"],
        },
        "device": "cpu",
        "n_threads": 1,
        "resume": False,
        "study": None,
    }


@pytest.fixture(autouse=True)
def _ultralytics_state(tmp_path, monkeypatch):
    """Ultralytics' settings file (and its weights and runs dirs) under tmp_path."""
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics_config"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")


def label_values(folder: Path) -> list[list[float]]:
    rows = []
    for path in folder.glob("*.txt"):
        rows += [[float(v) for v in line.split()] for line in path.read_text().splitlines()]
    return rows


def test_tiles_join_the_converted_training_set(tmp_path):
    spec = yolo_trial_spec(tmp_path, tile_grid_size="2x2")
    root = prepare_yolo_dataset(TrialInputs.from_spec(spec)).parent
    train = sorted(p.name for p in (root / "images" / "train").iterdir())
    tiles = [name for name in train if "_tile" in name]
    assert len(train) == 4 + len(tiles) and len(tiles) > 4  # at most 4 tiles per image
    assert len(list((root / "images" / "valid").iterdir())) == 2  # no tiles in validation
    tile_labels = [p for p in (root / "labels" / "train").glob("*_tile*.txt")]
    assert len(tile_labels) == len(tiles)
    assert all(p.read_text().strip() for p in tile_labels)  # no tile without a box
    rows = label_values(root / "labels" / "train")
    assert rows and all(row[0] == 0 and all(0 <= v <= 1 for v in row[1:]) for row in rows)
    assert all(row[3] > 0 and row[4] > 0 for row in rows)

    untiled = yolo_trial_spec(tmp_path)
    other_overlap = yolo_trial_spec(tmp_path, tile_grid_size="2x2", tile_overlap_ratio=0.5)
    keys = {
        dataset_key(yolo_export(TrialInputs.from_spec(s))) for s in (spec, untiled, other_overlap)
    }
    assert len(keys) == 3  # tiling settings are part of the cache key


def test_tile_label_is_the_box_relative_to_the_tile(tmp_path):
    from PIL import Image

    image = tmp_path / "img.png"
    Image.new("RGB", (100, 100)).save(image)
    box = {"label": "raccoon", "topX": 0.1, "topY": 0.1, "bottomX": 0.3, "bottomY": 0.2}
    spec = yolo_trial_spec(tmp_path, tile_grid_size="2x1", tile_overlap_ratio=0.0)
    row = {"image_url": str(image), "label": [{**box, "isCrowd": 0}]}
    write_manifest(spec["data"]["train_manifest"], [row])
    root = prepare_yolo_dataset(TrialInputs.from_spec(spec)).parent
    (tile,) = (root / "labels" / "train").glob("*_tile*.txt")
    assert tile.name.endswith("_tile000.txt")  # the right tile holds no box: left out
    # box x 10..30 px, y 10..20 px in the left 50 x 100 tile
    assert tile.read_text().split() == ["0", "0.400000", "0.150000", "0.400000", "0.100000"]


def test_segmentation_does_not_tile(tmp_path):
    spec = yolo_trial_spec(tmp_path)
    spec["task"] = "image_instance_segmentation"
    spec["training_parameters"] = {**spec["training_parameters"], "tile_grid_size": "2x2"}
    with pytest.raises(TrialError, match="tiling is supported for image_object_detection"):
        prepare_yolo_dataset(TrialInputs.from_spec(spec))


def test_yolo_trial_trains_on_tiles(tmp_path):
    from automl.engine.training.trial import run_trial
    from automl.engine.trials import TrialSpec

    torch.set_num_threads(1)
    spec = yolo_trial_spec(tmp_path, tile_grid_size="2x2")
    result = run_trial(TrialSpec.from_dict(spec))
    assert result.state == "complete" and result.epochs_completed == 1
    (root,) = (Path(spec["data"]["train_manifest"]).parent / "yolo").iterdir()
    assert len(list((root / "images" / "train").iterdir())) > 4
    settings = json.loads((Path(spec["trial_dir"]) / "outputs" / "settings.json").read_text())
    assert settings["tile_grid_size"] == "2x2"  # inference tiles too
