"""ONNX export of detectors: Azure's graph I/O per family, parity after matching, YOLO."""

from __future__ import annotations

import numpy as np
import pytest
import torch

onnxruntime = pytest.importorskip("onnxruntime")

from automl.engine.errors import AutomlError  # noqa: E402
from automl.engine.export import export_onnx, sample_images  # noqa: E402
from automl.engine.models import build_detection_model, write_model_package  # noqa: E402
from automl.engine.predict import Predictor  # noqa: E402

LABELS = ["cat", "dog"]
RCNN_PARAMS = {
    "min_size": 64,
    "max_size": 96,
    "box_score_threshold": 0.005,  # untrained heads score ~0.01-0.3: many boxes to compare
    "nms_iou_threshold": 0.5,
    "box_detections_per_image": 20,
    "tile_grid_size": None,
}
YOLO_PARAMS = {
    "image_size": 64,
    "model_size": "small",
    "box_score_threshold": 0.05,
    "nms_iou_threshold": 0.5,
}
RCNN_FIELDS = {
    "test_tiny_fasterrcnn": ["boxes", "labels", "scores"],
    "test_tiny_retinanet": ["boxes", "scores", "labels"],
    "test_tiny_maskrcnn": ["boxes", "labels", "scores", "masks"],
}


@pytest.fixture(autouse=True)
def _one_thread_offline(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics_config"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")


def untrained_package(folder, name: str) -> Predictor:
    """A package of the untrained tiny model `name` (seeded), loaded as a Predictor."""
    torch.manual_seed(0)
    task = "image_instance_segmentation" if "mask" in name or "seg" in name else None
    task = task or "image_object_detection"
    params = YOLO_PARAMS if "yolo" in name else RCNN_PARAMS
    settings = {
        "min_size": 64,
        "max_size": 96,
        "box_score_thresh": 0.005,
        "nms_iou_thresh": 0.5,
        "box_detections_per_img": 20,
    }
    model = build_detection_model(name, len(LABELS), pretrained=False, settings=settings)
    if name == "test_tiny_retinanet":
        # its prior-initialised head scores every anchor 0.0100000x: ties everywhere make
        # the top detections arbitrary; spread the scores as training does
        logits = model.head.classification_head.cls_logits
        torch.nn.init.normal_(logits.weight, std=1.0)
        torch.nn.init.zeros_(logits.bias)
    write_model_package(
        folder, model, task=task, model_name=name, labels=LABELS, training_parameters=params
    )
    return Predictor.from_package(folder)


def run_graph(path, batch: torch.Tensor) -> tuple[object, list[np.ndarray]]:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session, session.run(None, {"input": batch.numpy()})


@pytest.mark.parametrize("name", list(RCNN_FIELDS))
def test_rcnn_export_has_azure_io_parity_and_the_predictions(name, tmp_path):
    predictor = untrained_package(tmp_path / "pkg", name)
    result = export_onnx(predictor, tmp_path / "model.onnx", batch_size=2)
    fields = RCNN_FIELDS[name]
    assert result.input_names == ["input"]
    assert result.output_names == [f"{f}_{i}" for i in range(2) for f in fields]
    assert all(check["ok"] for check in result.checks), result.checks
    # images already at the graph's 64 x 85 (min_size x 4/3 min_size): no resize in between
    images = [image.resize((85, 64)) for image in sample_images(2, seed=4)]
    batch = predictor.task_predictor.onnx_inputs(images, normalization=False)
    session, outputs = run_graph(result.path, batch)
    assert [i.shape for i in session.get_inputs()] == [[2, 3, 64, 85]]
    for image, response in enumerate(predictor.predict(images)):
        got = dict(
            zip(fields, outputs[image * len(fields) : (image + 1) * len(fields)], strict=True)
        )
        kept = got["scores"] > predictor.settings["box_score_thresh"]
        assert len(response["boxes"]) == int(kept.sum()) > 0
        normalised = got["boxes"] / np.array([85, 64, 85, 64])
        for entry in response["boxes"]:
            box = [entry["box"][k] for k in ("topX", "topY", "bottomX", "bottomY")]
            assert np.any(
                (np.abs(got["scores"] - entry["score"]) < 1e-3)
                & (np.abs(normalised - box).max(axis=1) < 1e-3)
            ), entry
        if "masks" in got:
            assert got["masks"].shape[1:] == (1, 64, 85)


def test_rcnn_dynamic_batch_is_refused_and_normalisation_is_baked(tmp_path):
    predictor = untrained_package(tmp_path / "pkg", "test_tiny_fasterrcnn")
    with pytest.raises(AutomlError, match="dynamic batch is not exportable"):
        export_onnx(predictor, tmp_path / "dyn.onnx", dynamic_batch=True)
    result = export_onnx(predictor, tmp_path / "raw.onnx", normalization=True)
    assert result.normalization and all(check["ok"] for check in result.checks)
    pixels = predictor.task_predictor.onnx_inputs(sample_images(1), normalization=True)
    assert pixels.max() > 2.0  # the graph takes 0-255 pixels
    _, (boxes, _, scores) = run_graph(result.path, pixels)
    with torch.inference_mode():
        want = predictor.model(list(pixels / 255.0))[0]
    assert boxes.shape == want["boxes"].shape and len(scores) > 0
    assert np.allclose(np.sort(scores), np.sort(want["scores"].numpy()), atol=1e-3)


@pytest.mark.parametrize(
    ("name", "outputs"),
    [("test_tiny_yolo", ["output"]), ("test_tiny_yolo_seg", ["output", "protos"])],
)
def test_yolo_export_has_raw_predictions_and_a_dynamic_batch(name, outputs, tmp_path):
    predictor = untrained_package(tmp_path / "pkg", name)
    result = export_onnx(predictor, tmp_path / "yolo.onnx", dynamic_batch=True)
    assert result.input_names == ["input"] and result.output_names == outputs
    assert [check["batch"] for check in result.checks] == [1, 3]
    assert all(check["ok"] for check in result.checks), result.checks
    images = sample_images(2, seed=2)
    batch = predictor.task_predictor.onnx_inputs(images, normalization=False)
    session, got = run_graph(result.path, batch)
    assert session.get_inputs()[0].shape[1:] == [3, 64, 64]
    assert got[0].shape == (2, 4 + len(LABELS) + (32 if len(outputs) == 2 else 0), 84)
    with torch.inference_mode():
        want = result_predictions(predictor, batch)
    assert np.abs(got[0] - want).max() < 1e-3


def result_predictions(predictor: Predictor, batch: torch.Tensor) -> np.ndarray:
    from automl.engine.predict._yolo import split_outputs

    return split_outputs(predictor.model(batch))[0].numpy()


def test_detection_parity_matches_reordered_boxes_and_catches_wrong_ones():
    from automl.engine.export._onnx import _compare_detections
    from automl.engine.predict import OnnxProgram

    program = OnnxProgram(
        module=None,
        example=(),
        input_names=["input"],
        output_names=["boxes_0", "labels_0", "scores_0"],
        tolerance=1e-3,
    )
    boxes = np.array([[1.0, 2.0, 10.0, 12.0], [5.0, 5.0, 20.0, 30.0]], dtype=np.float32)
    labels, scores = np.array([1, 2]), np.array([0.9, 0.8], dtype=np.float32)
    expected = [boxes, labels, scores]
    swapped = [boxes[::-1].copy(), labels[::-1].copy(), scores[::-1].copy()]
    assert _compare_detections(program, expected, swapped, 1)["ok"]
    moved = [boxes + np.array([[0, 0, 0, 3.0], [0, 0, 0, 0]]), labels, scores]
    check = _compare_detections(program, expected, moved, 1)
    assert not check["ok"] and "no ONNX detection matches" in check["problem"]
    empty = [np.zeros((0, 4)), np.zeros(0), np.zeros(0)]
    assert (
        "0 detections, PyTorch gives 2"
        in _compare_detections(program, expected, empty, 1)["problem"]
    )
