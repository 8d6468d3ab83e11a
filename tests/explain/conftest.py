"""Tiny trained classifiers, trained once per session, for the explanation tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _support.paths import BUNDLED_DATA_DIR


# The tiny models are trained once per session (tests/conftest.py) for every test folder.
@pytest.fixture(scope="session")
def multiclass_run(classification_run) -> Path:
    """Run directory of a tiny multi-class model (`automl job create`, flowers5)."""
    return classification_run


@pytest.fixture(scope="session")
def crop_size(multiclass_run) -> int:
    """valid_crop_size of the tiny models: the side of every attribution array."""
    settings = json.loads((multiclass_run / "best_model" / "settings.json").read_text())
    return int(settings["valid_crop_size"])


@pytest.fixture(scope="session")
def multiclass_predictor(multiclass_run):
    from automl.engine.predict import Predictor

    return Predictor.from_package(multiclass_run / "best_model")


@pytest.fixture(scope="session")
def multilabel_predictor(multilabel_run):
    from automl.engine.predict import Predictor

    return Predictor.from_package(multilabel_run / "best_model")


@pytest.fixture(scope="session")
def flower_image():
    """One real validation image of flowers5 (not square: resize + crop matter)."""
    from automl.engine.data.images import load_image_rgb

    path = sorted((BUNDLED_DATA_DIR / "flowers5" / "valid").rglob("*.jpg"))[0]
    return load_image_rgb(path)


@pytest.fixture(scope="session")
def chess_image():
    from automl.engine.data.images import load_image_rgb

    path = sorted((BUNDLED_DATA_DIR / "chess_multilabel" / "valid").rglob("*.jpg"))[0]
    return load_image_rgb(path)


@pytest.fixture(autouse=True)
def _one_thread():
    """Two cores are shared by several test runs: one torch thread per test process."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


DETECTOR_LABELS = ["cat", "dog"]
RCNN_PARAMS = {
    "min_size": 64,
    "max_size": 96,
    "box_score_threshold": 0.005,  # untrained heads score ~0.01-0.3: objects to explain
    "nms_iou_threshold": 0.5,
    "box_detections_per_image": 5,
    "tile_grid_size": None,
}
YOLO_PARAMS = {
    "image_size": 64,
    "model_size": "small",
    "box_score_threshold": 0.001,
    "nms_iou_threshold": 0.5,
}


@pytest.fixture(scope="session")
def detector_package(tmp_path_factory):
    """detector_package(name) -> the folder of an untrained (seeded) tiny detector package of
    registered model `name` (test_tiny_fasterrcnn, ..._retinanet, ..._maskrcnn, test_tiny_yolo),
    written once per session."""
    import torch

    from automl.engine.models import build_detection_model, get_model_spec, write_model_package

    root = tmp_path_factory.mktemp("detectors")
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name in built:
            return built[name]
        torch.manual_seed(0)
        yolo = "yolo" in name
        params = YOLO_PARAMS if yolo else RCNN_PARAMS
        settings = {
            "min_size": 64,
            "max_size": 96,
            "box_score_thresh": params["box_score_threshold"],
            "nms_iou_thresh": 0.5,
            "box_detections_per_img": 5,
            "model_size": "small",
        }
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("YOLO_CONFIG_DIR", str(root / "ultralytics_config"))
            patch.setenv("YOLO_OFFLINE", "1")
            model = build_detection_model(name, 2, pretrained=False, settings=settings)
            if name == "test_tiny_retinanet":  # its prior-initialised head ties every anchor
                logits = model.head.classification_head.cls_logits
                torch.nn.init.normal_(logits.weight, std=1.0)
                torch.nn.init.zeros_(logits.bias)
            [task] = get_model_spec(name).tasks
            built[name] = root / name
            write_model_package(
                built[name],
                model,
                task=task,
                model_name=name,
                labels=DETECTOR_LABELS,
                training_parameters=params,
            )
        return built[name]

    return build


@pytest.fixture(scope="session")
def detector_predictor(detector_package):
    """detector_predictor(name) -> a Predictor of `detector_package(name)`."""
    from automl.engine.predict import Predictor

    loaded: dict = {}

    def load(name: str):
        if name not in loaded:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("YOLO_OFFLINE", "1")
                loaded[name] = Predictor.from_package(detector_package(name))
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def street_image():
    """A 64 x 48 synthetic scene: two bright rectangles on a dark textured ground."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(20, 60, size=(48, 64, 3), dtype=np.uint8)
    pixels[8:30, 6:26] = (230, 200, 40)
    pixels[20:44, 36:58] = (40, 120, 230)
    return Image.fromarray(pixels)
