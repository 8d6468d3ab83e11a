"""Detection and segmentation models: registry vs schema, build + train step, weights."""

from __future__ import annotations

import pytest
import torch

from automl.engine.models import (
    build_detection_model,
    freeze_layer_groups,
    get_model_spec,
    load_model_package,
    model_names,
    write_model_package,
)
from automl.engine.models._detection import load_pretrained_detector

OBJECT_TASKS = ("image_object_detection", "image_instance_segmentation")
# one full train step + predict per architecture (its smallest backbone); the bigger backbones
# of that architecture are built on the meta device and compared with it (heads and groups)
SMALLEST = {"fasterrcnn": "fasterrcnn_resnet18_fpn", "maskrcnn": "maskrcnn_resnet18_fpn"}
SMALLEST |= {"retinanet": "retinanet_resnet50_fpn"}
SETTINGS = {
    "min_size": 64,
    "max_size": 96,
    "box_score_thresh": 0.0,
    "nms_iou_thresh": 0.5,
    "box_detections_per_img": 20,
}


@pytest.mark.parametrize("task", OBJECT_TASKS)
def test_registry_names_equal_schema_enum(task):
    from automl.schemas import model_names as schema_model_names

    assert set(model_names(task)) == set(schema_model_names(task))


def detector_names() -> list[str]:
    # the Ultralytics models take other inputs; tests/models/test_yolo_models.py covers them;
    # Transformers hub models are built from their hub config (tests/models/test_hf_detection.py)
    return [
        n
        for task in OBJECT_TASKS
        for n in model_names(task)
        if get_model_spec(n).family != "yolo" and get_model_spec(n).source != "huggingface"
    ]


def architecture(name: str) -> str:
    return name.split("_")[0]


def stepped_names() -> list[str]:
    return [n for n in detector_names() if SMALLEST.get(architecture(n), n) == n]


def bigger_names() -> list[str]:
    return [n for n in detector_names() if SMALLEST.get(architecture(n), n) != n]


def assert_layer_groups_name_parameters(model, spec) -> None:
    names = [n for n, _ in model.named_parameters()]
    for group in spec.layer_groups:  # every layer group names real parameters
        assert any(n.startswith(group) for n in names), group


def batch(with_masks: bool):
    images = [torch.rand(3, 60, 80), torch.rand(3, 64, 48)]
    targets = [
        {"boxes": torch.tensor([[8.0, 6.0, 40.0, 50.0]]), "labels": torch.tensor([2])},
        # an image without objects is valid training data
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    if with_masks:
        mask = torch.zeros(1, 60, 80, dtype=torch.uint8)
        mask[0, 6:50, 8:40] = 1
        targets[0]["masks"] = mask
        targets[1]["masks"] = torch.zeros(0, 64, 48, dtype=torch.uint8)
    return images, targets


@pytest.mark.parametrize("name", stepped_names())
def test_detector_builds_trains_a_step_and_predicts(name):
    """The smallest backbone of each architecture (and each tiny test model) trains and predicts."""
    torch.manual_seed(0)
    spec = get_model_spec(name)
    settings = {**SETTINGS, "task": spec.tasks[0]}  # the Transformers family reads it
    model = build_detection_model(name, 2, pretrained=False, settings=settings)
    images, targets = batch("image_instance_segmentation" in spec.tasks)
    model.train()
    losses = model(images, targets)
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        outputs = model(images)
    assert len(outputs) == 2 and {"boxes", "scores", "labels"} <= set(outputs[0])
    assert_layer_groups_name_parameters(model, spec)


def heads(model) -> dict[str, tuple[int, ...]]:
    return {n: tuple(p.shape) for n, p in model.named_parameters() if not n.startswith("backbone.")}


def test_every_architecture_has_a_stepped_model():
    assert set(SMALLEST.values()) <= set(stepped_names())
    assert {architecture(n) for n in bigger_names()} <= set(SMALLEST)


@pytest.mark.parametrize("name", bigger_names())
def test_bigger_backbone_builds_with_its_resnet_body_and_the_heads_of_the_smallest(name):
    """Built on the meta device (no weights to initialize): the body is the named torchvision
    ResNet, the FPN has the parameter names and the RPN and heads the parameter names and shapes
    of the architecture's smallest model, which test_detector_builds_trains_a_step_and_predicts
    runs."""
    import torchvision

    spec = get_model_spec(name)
    with torch.device("meta"):
        model = build_detection_model(name, 2, pretrained=False, settings=SETTINGS)
        smallest = build_detection_model(
            SMALLEST[architecture(name)], 2, pretrained=False, settings=SETTINGS
        )
        resnet = getattr(torchvision.models, name.split("_")[1])(weights=None)
    assert type(model) is type(smallest)
    body = {n.removeprefix("backbone.body.") for n, _ in model.named_parameters()}
    body = {n for n in body if not n.startswith(("backbone.", "rpn.", "roi_heads.", "head."))}
    assert body == {n for n, _ in resnet.named_parameters() if not n.startswith("fc.")}
    fpn = {n for n, _ in model.named_parameters() if n.startswith("backbone.fpn.")}
    assert fpn == {n for n, _ in smallest.named_parameters() if n.startswith("backbone.fpn.")}
    assert heads(model) == heads(smallest)  # same names and shapes: 2 classes + background
    assert_layer_groups_name_parameters(model, spec)


def test_layers_to_freeze_uses_backbone_groups():
    model = build_detection_model("fasterrcnn_resnet18_fpn", 1, pretrained=False, settings=SETTINGS)
    frozen = freeze_layer_groups(model, get_model_spec("fasterrcnn_resnet18_fpn"), 2)
    assert frozen and all(
        n.startswith(("backbone.body.conv1.", "backbone.body.bn1.", "backbone.body.layer1."))
        for n in frozen
    )
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "backbone.body.layer2.0.conv1.weight" in trainable
    assert "roi_heads.box_predictor.cls_score.weight" in trainable


def test_coco_weights_load_except_the_class_heads(tmp_path, monkeypatch):
    """A COCO (91-class) state dict fills everything but the class-specific heads."""
    spec = get_model_spec("test_tiny_fasterrcnn")
    coco_like = spec.builder(spec, 91, False, {"min_size": 64, "max_size": 96})
    path = tmp_path / "coco.pth"
    torch.save(coco_like.state_dict(), path)
    monkeypatch.setattr("automl.engine.models._weights.weights_file", lambda s: path)
    coco_spec = type(spec)(**{**spec.__dict__, "extra": {**spec.extra, "weights_kind": "coco"}})
    model = spec.builder(spec, 3, False, {"min_size": 64, "max_size": 96})
    load_pretrained_detector(model, coco_spec)
    own, source = model.state_dict(), coco_like.state_dict()
    assert torch.equal(own["backbone.body.conv1.weight"], source["backbone.body.conv1.weight"])
    head = "roi_heads.box_predictor.cls_score.weight"
    assert own[head].shape[0] == 3 and source[head].shape[0] == 91


def test_imagenet_backbone_weights_go_into_the_body(tmp_path, monkeypatch):
    import torchvision

    spec = get_model_spec("fasterrcnn_resnet18_fpn")
    assert spec.extra["weights_kind"] == "imagenet_backbone"
    resnet = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(resnet.state_dict(), path)
    monkeypatch.setattr("automl.engine.models._weights.weights_file", lambda s: path)
    model = build_detection_model(spec.name, 1, pretrained=True, settings=SETTINGS)
    body = model.backbone.body
    assert torch.equal(body.layer3[0].conv1.weight, resnet.layer3[0].conv1.weight)
    assert isinstance(body.bn1, torchvision.ops.misc.FrozenBatchNorm2d)


def test_package_round_trip_uses_settings_json(tmp_path):
    params = {
        "min_size": 64,
        "max_size": 96,
        "box_score_threshold": 0.25,
        "nms_iou_threshold": 0.4,
        "box_detections_per_image": 7,
        "tile_grid_size": None,
    }
    model = build_detection_model("test_tiny_maskrcnn", 2, pretrained=False, settings=SETTINGS)
    task = "image_instance_segmentation"
    write_model_package(
        tmp_path,
        model,
        task=task,
        model_name="test_tiny_maskrcnn",
        labels=["a", "b"],
        training_parameters=params,
    )
    import json

    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["box_score_thresh"] == 0.25 and settings["nms_iou_thresh"] == 0.4
    assert settings["box_detections_per_img"] == 7
    assert settings["mask_pixel_score_threshold"] == 0.5
    assert settings["max_number_of_polygon_points"] == 100
    loaded, meta = load_model_package(tmp_path)
    assert meta["task"] == task and loaded.roi_heads.detections_per_img == 7
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
