"""Transformers DETR-family detectors: the wrapper's coordinates, training and inference
interface, hub ids and Azure's curated mmd-3x names (mapped or refused), built from tiny
configs (nothing downloaded: a hub id's cached snapshot is a folder of this test)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from _support.jobs import write_job
from _support.paths import AUTOML

pytest.importorskip("transformers")

# the transformer of every tiny config: d_model 32, one encoder and decoder layer, 10 queries
TINY_TRANSFORMER = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 32,
    "decoder_ffn_dim": 32,
    "num_queries": 10,
}
TINY_BACKBONE = {
    "model_type": "resnet",
    "embedding_size": 8,
    "hidden_sizes": [8, 16, 16, 32],
    "depths": [1, 1, 1, 1],
    "layer_type": "basic",
}
# Deformable DETR with box refinement and two stages (the architecture the curated
# mmd-3x Deformable DETR name maps to), at the tiny size
TINY_DEFORMABLE = {
    "model_type": "deformable_detr",
    "use_timm_backbone": False,
    "use_pretrained_backbone": False,
    "backbone_config": {**TINY_BACKBONE, "out_features": ["stage2", "stage3", "stage4"]},
    **TINY_TRANSFORMER,
    "two_stage": True,
    "two_stage_num_proposals": 10,
    "with_box_refine": True,
    "encoder_n_points": 2,
    "decoder_n_points": 2,
    "num_feature_levels": 3,
}
TINY_CONDITIONAL = {
    "model_type": "conditional_detr",
    "use_timm_backbone": False,
    "use_pretrained_backbone": False,
    "backbone_config": {**TINY_BACKBONE, "out_features": ["stage4"]},
    **TINY_TRANSFORMER,
}
TINY_RT_DETR = {
    "model_type": "rt_detr",
    "use_pretrained_backbone": False,
    "backbone_config": {
        **TINY_BACKBONE,
        "model_type": "rt_detr_resnet",
        "embedding_size": 16,
        "hidden_sizes": [16, 32, 64, 64],
        "out_features": ["stage2", "stage3", "stage4"],
    },
    **TINY_TRANSFORMER,
    "encoder_in_channels": [32, 64, 64],
    "decoder_in_channels": [32, 32, 32],
    "encoder_hidden_dim": 32,
    "decoder_n_points": 2,
}
MMD_DEFORMABLE = "mmd-3x-deformable-detr_refine_twostage_r50_16xb2-50e_coco"


def settings(task: str = "image_object_detection", **overrides) -> dict:
    from automl import schemas
    from automl.engine.models._detection import detection_settings

    params = {**schemas.task_defaults(task), "min_size": 64, "max_size": 96, **overrides}
    return detection_settings(task, "", [], params)


def build(name: str, task: str = "image_object_detection", n_labels: int = 2, **overrides):
    from automl.engine.models import build_detection_model

    return build_detection_model(
        name, n_labels, pretrained=False, settings=settings(task, **overrides)
    )


@pytest.fixture
def cached_snapshot(tmp_path, monkeypatch):
    """Hub ids resolve to a snapshot folder holding the given config.json."""
    from automl.engine.models import _hf

    def cache(config: dict) -> Path:
        folder = tmp_path / "snapshot"
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text(json.dumps(config))
        monkeypatch.setattr(_hf, "hub_snapshot", lambda hub_id, pretrained: folder)
        return folder

    return cache


def images_and_targets():
    import torch

    images = [torch.rand(3, 50, 80), torch.rand(3, 70, 40)]
    targets = [
        {"boxes": torch.tensor([[4.0, 5.0, 40.0, 45.0], [50.0, 10.0, 78.0, 30.0]]),
         "labels": torch.tensor([1, 2])},
        {"boxes": torch.tensor([[2.0, 3.0, 30.0, 60.0]]), "labels": torch.tensor([2])},
    ]  # fmt: skip
    return images, targets


@pytest.mark.slow
def test_boxes_round_trip_through_detr_coordinates():
    """Our pixel boxes -> normalised (cx, cy, w, h) on the padded canvas of a mixed-size
    batch -> decoded back to pixels of each original image."""
    import torch

    model = build("test_tiny_detr").eval()
    images, targets = images_and_targets()
    scales = [model.scale_of(image) for image in images]
    pixels, _ = model.batch(images, scales)
    canvas = pixels.shape[-2:]
    assert canvas[0] % 32 == 0 and canvas[1] % 32 == 0
    for i, (target, scale) in enumerate(zip(targets, scales, strict=True)):
        labels = model.hf_target(target, scale, canvas)
        assert labels["class_labels"].tolist() == (target["labels"] - 1).tolist()
        n = len(target["boxes"])
        logits = torch.full((1, n, 3), -10.0)
        logits[0, torch.arange(n), labels["class_labels"]] = 10.0  # confident, no "no object"
        outputs = SimpleNamespace(logits=logits, pred_boxes=labels["boxes"][None])
        decoded = model.decode(outputs, 0, images[i].shape[-2:], scale, canvas)
        order = decoded["scores"].argsort(descending=True)
        assert torch.allclose(decoded["boxes"][order], target["boxes"], atol=1e-3)
        assert decoded["labels"][order].tolist() == target["labels"].tolist()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("test_tiny_detr", "image_object_detection"),
        ("test_tiny_detr_seg", "image_instance_segmentation"),
    ],
)
def test_tiny_models_speak_torchvisions_detector_interface(name, task):
    import torch

    model = build(name, task)
    images, targets = images_and_targets()
    if task == "image_instance_segmentation":
        for image, target in zip(images, targets, strict=True):
            masks = torch.zeros(len(target["boxes"]), *image.shape[-2:], dtype=torch.uint8)
            masks[:, 10:30, 10:30] = 1
            target["masks"] = masks
    model.train()
    loss = sum(model(images, targets).values())
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    model.apply_settings(settings(task, box_score_threshold=0.0))
    with torch.no_grad():
        outputs = model(images)
    for image, output in zip(images, outputs, strict=True):
        height, width = image.shape[-2:]
        assert len(output["boxes"]) == 10  # every query (threshold 0, 10 queries)
        assert (output["boxes"][:, 2] <= width).all() and (output["boxes"][:, 3] <= height).all()
        assert set(output["labels"].tolist()) <= {1, 2}  # 1-based, as torchvision's
        if task == "image_instance_segmentation":
            assert output["masks"].shape == (10, 1, height, width)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "mean"), [(TINY_CONDITIONAL, 0.485), (TINY_DEFORMABLE, 0.485), (TINY_RT_DETR, 0.0)]
)
def test_detr_family_members_train_and_predict_through_the_wrapper(cached_snapshot, config, mean):
    """Conditional DETR, Deformable DETR and RT-DETR by hub id: a training step and boxes
    (RT-DETR's processor only rescales: no ImageNet mean)."""
    import torch

    cached_snapshot(config)
    model = build("someorg/detector", box_score_threshold=0.0)
    assert model.config.model_type == config["model_type"]
    assert float(model.mean[0]) == pytest.approx(mean)
    images, targets = images_and_targets()
    model.train()
    loss = model(images, targets)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    with torch.no_grad():
        outputs = model(images)
    assert [len(output["boxes"]) for output in outputs] == [10, 10]


@pytest.mark.slow
def test_curated_mmd_deformable_detr_trains_transformers_deformable_detr(cached_snapshot):
    import torch

    from automl.engine.models import get_model_spec

    spec = get_model_spec(MMD_DEFORMABLE)
    assert spec.extra["hub_id"] == "SenseTime/deformable-detr-with-box-refine-two-stage"
    cached_snapshot(TINY_DEFORMABLE)
    model = build(MMD_DEFORMABLE).eval()
    assert type(model.model).__name__ == "DeformableDetrForObjectDetection"
    assert model.config.two_stage and model.config.with_box_refine
    with torch.no_grad():
        (output,) = model([torch.rand(3, 64, 64)])
    assert set(output) == {"boxes", "scores", "labels"}
    record = model.package_record()["hf_config"]
    assert record["model_type"] == "deformable_detr" and len(record["id2label"]) == 2


@pytest.mark.slow
def test_onnx_export_of_deformable_attention_is_refused_in_one_line(cached_snapshot):
    import torch

    from automl.engine.predict import PredictError
    from automl.engine.predict._hf_detection import HfDetectionPredictor

    cached_snapshot(TINY_DEFORMABLE)
    meta = {"task": "image_object_detection", "model_name": MMD_DEFORMABLE, "labels": ["a", "b"]}
    predictor = HfDetectionPredictor(build(MMD_DEFORMABLE), meta, settings(), torch.device("cpu"))
    with pytest.raises(PredictError, match="deformable_detr models is not supported") as caught:
        predictor.onnx_program()
    assert "facebook/detr-resnet-50" in caught.value.hint and "\n" not in caught.value.args[0]


@pytest.mark.slow
def test_any_detection_hub_id_builds_from_its_cached_config(cached_snapshot):
    from automl.engine.errors import AutomlError
    from automl.engine.models import MODELS

    assert "someorg/tiny-detector" in MODELS  # hub ids resolve, for detection too
    cached_snapshot(TINY_DEFORMABLE)
    assert build("someorg/tiny-detector").config.model_type == "deformable_detr"
    cached_snapshot({"model_type": "vit", "hidden_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "intermediate_size": 32})  # fmt: skip
    with pytest.raises(AutomlError, match="'vit' is not a image_object_detection model type"):
        build("someorg/a-classifier")


def test_missing_transformers_is_one_line_naming_the_extra(monkeypatch):
    from automl.engine.errors import AutomlError
    from automl.engine.utils import hf_hub

    monkeypatch.setattr(hf_hub, "transformers_installed", lambda: False)
    with pytest.raises(AutomlError) as caught:
        build("test_tiny_detr")
    assert "pip install 'automl-vision[transformers]'" in str(caught.value)


def validate(tmp_path: Path, task: str, model: str) -> subprocess.CompletedProcess:
    job = write_job(tmp_path, task, model=model)
    return subprocess.run(
        [AUTOML, "job", "validate", "--file", str(job)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("task", "name", "instead"),
    [
        ("image_object_detection", "mmd-3x-yolof_r50_c5_8x8_1x_coco", "yolov8"),
        ("image_instance_segmentation", "mmd-3x-mask-rcnn_swin-t-p4-w7_fpn_1x_coco",
         "maskrcnn_resnet50_fpn"),
    ],
)  # fmt: skip
def test_curated_mmd_names_without_an_architecture_are_refused_by_name(
    tmp_path, task, name, instead
):
    result = validate(tmp_path, task, name)
    shown = result.stdout + result.stderr  # the job's problems, then the verdict
    assert result.returncode == 1
    assert f"model_name: {name!r} is not offered here" in shown
    assert f"use {instead}" in shown and "Traceback" not in shown


def test_curated_mmd_deformable_detr_validates(tmp_path):
    result = validate(tmp_path, "image_object_detection", MMD_DEFORMABLE)
    assert result.returncode == 0, result.stderr
