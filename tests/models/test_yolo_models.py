"""Ultralytics YOLO models: registry entries build from YAML, train a step, package round
trip with weights_only, offline weights error, and no ultralytics import by the registry."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from automl.engine.models import (
    WeightsUnavailableError,
    build_detection_model,
    get_model_spec,
    load_model_package,
    model_names,
    write_model_package,
)
from automl.engine.models._yolo import YOLO_MODELS, model_scale

ULTRALYTICS_WEIGHTS_DIR = "automl.engine.utils.library_caches.ultralytics_weights_dir"

YOLO_NAMES = [
    n
    for t in ("image_object_detection", "image_instance_segmentation")
    for n in model_names(t)
    if get_model_spec(n).runtime == "ultralytics"
]


@pytest.fixture(autouse=True)
def _ultralytics_state(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics_config"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")


def test_registry_has_every_yolo_name_and_the_tiny_ones():
    assert set(YOLO_MODELS) | {"test_tiny_yolo", "test_tiny_yolo_seg"} == set(YOLO_NAMES)


@pytest.mark.parametrize(
    ("size", "scale"),
    [("small", "s"), ("medium", "m"), ("large", "l"), ("extra_large", "x"), ("xlarge", "x")],
)
def test_model_size_maps_to_the_ultralytics_scale(size, scale):
    assert model_scale(size) == scale


def test_importing_the_registry_does_not_import_ultralytics():
    code = "import sys, automl.engine.models, automl.engine.training.trainers; "
    code += "sys.exit('ultralytics' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def tiny_batch(task: str) -> dict:
    batch = {
        "img": torch.rand(2, 3, 64, 64),
        "batch_idx": torch.tensor([0.0]),
        "cls": torch.tensor([[1.0]]),
        "bboxes": torch.tensor([[0.5, 0.5, 0.4, 0.3]]),
    }
    if task == "image_instance_segmentation":
        masks = torch.zeros(1, 16, 16)
        masks[0, 5:11, 4:12] = 1
        batch["masks"] = masks
    return batch


def yolo_cases():
    small = [("test_tiny_yolo", None), ("test_tiny_yolo_seg", None), ("yolov5", "small")]
    slow = [(n, "small") for n in YOLO_MODELS if n != "yolov5"]
    return small + [pytest.param(*c, marks=pytest.mark.slow) for c in slow]


@pytest.mark.parametrize(("name", "size"), yolo_cases())
def test_yolo_builds_trains_a_step_and_has_its_layer_groups(name, size):
    torch.manual_seed(0)
    spec = get_model_spec(name)
    task = spec.tasks[0]
    model = build_detection_model(name, 2, pretrained=False, settings={"model_size": size})
    from ultralytics.cfg import get_cfg

    model.args = get_cfg()  # the loss gains (box, cls, dfl); Ultralytics' trainer sets them
    model.train()
    loss, _ = model.loss(tiny_batch(task))
    loss.sum().backward()
    assert torch.isfinite(loss).all() and model.yaml["nc"] == 2
    names = [n for n, _ in model.named_parameters()]
    for group in spec.layer_groups:
        assert any(n.startswith(group) for n in names), group


@pytest.mark.parametrize("name", ["test_tiny_yolo", "test_tiny_yolo_seg"])
def test_package_round_trip_with_weights_only(tmp_path, name):
    spec = get_model_spec(name)
    model = build_detection_model(name, 3, pretrained=False, settings={})
    params = {
        "image_size": 70,  # rounded up to a multiple of 32
        "model_size": "small",
        "box_score_threshold": 0.2,
        "nms_iou_threshold": 0.4,
    }
    write_model_package(
        tmp_path,
        model,
        task=spec.tasks[0],
        model_name=name,
        labels=["a", "b", "c"],
        training_parameters=params,
    )
    record = torch.load(tmp_path / "model.pt", weights_only=True)
    assert record["model_yaml"]["nc"] == 3
    loaded, meta = load_model_package(tmp_path)
    assert meta["settings"]["img_size"] == 96 and meta["settings"]["box_score_thresh"] == 0.2
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_pretrained_offline_names_the_cache_and_the_fetch_command(monkeypatch):
    monkeypatch.setattr("automl.engine.models._weights.url_reachable", lambda url: False)
    with pytest.raises(WeightsUnavailableError) as caught:
        build_detection_model("yolov8", 2, pretrained=True, settings={"model_size": "small"})
    message = str(caught.value)
    assert "yolov8s.pt" in message and "automl weights fetch yolov8" in message


def test_pretrained_loads_cached_coco_weights_where_shapes_fit(tmp_path, monkeypatch):
    """A cached Ultralytics checkpoint (pickled model, 80 classes) fills all but the heads."""
    spec = get_model_spec("yolov5")
    coco = build_detection_model("yolov5", 80, pretrained=False, settings={"model_size": "small"})
    monkeypatch.setattr(
        "automl.engine.utils.library_caches.ultralytics_weights_dir", lambda: tmp_path
    )
    torch.save({"model": coco.half()}, tmp_path / "yolov5su.pt")
    model = build_detection_model("yolov5", 2, pretrained=True, settings={"model_size": "small"})
    own, source = model.state_dict(), coco.float().state_dict()
    assert torch.equal(own["model.0.conv.weight"], source["model.0.conv.weight"])
    head = [k for k in own if own[k].shape != source[k].shape]
    assert head and all(k.startswith(f"model.{len(model.model) - 1}.") for k in head)
    assert spec.has_pretrained


def test_ultralytics_patches_of_pil_and_torch_are_undone():
    code = (
        "import PIL.Image, torch; before = (PIL.Image.open, torch.save); "
        "from automl.engine.models._yolo import import_ultralytics; import_ultralytics(); "
        "import sys; sys.exit((PIL.Image.open, torch.save) != before)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
