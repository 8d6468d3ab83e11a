"""Transformers DETR-family models end to end: `job create` with the tiny test models on the
bundled detection (raccoon) and segmentation (coco_seg) data, then register, predict (with
tiling), serve and export to ONNX. Each task trains once per module (the fixture); the
tests reuse its package.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from _support.jobs import write_job
from _support.paths import BUNDLED_DATA_DIR
from _support.trained import run_job
from PIL import Image

pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

# 64 px short side: the tiny DETR trains an epoch in seconds on one core
SIZES = {"min_size": 64, "max_size": 96, "limits": {"max_trials": 1}}
RUNS = {
    "image_object_detection": ("test_tiny_detr", "raccoon"),
    "image_instance_segmentation": ("test_tiny_detr_seg", "coco_seg"),
}


def train(base: Path, task: str) -> Path:
    model, _ = RUNS[task]
    job = write_job(base / "jobs", task, filename=f"{model}.yml", model=model, **SIZES)
    run_dir = base / model
    result = run_job(job, run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("hfdet"), "image_object_detection")


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("hfseg"), "image_instance_segmentation")


def valid_images(dataset: str, n: int) -> list[Image.Image]:
    folder = BUNDLED_DATA_DIR / dataset / "valid" / "images"
    return [Image.open(path).convert("RGB") for path in sorted(folder.iterdir())[:n]]


def best_result(run_dir: Path) -> dict:
    best = json.loads((run_dir / "summary.json").read_text())["best_trial"]
    return json.loads((run_dir / "trials" / str(best["number"]) / "result.json").read_text())


def test_detection_job_reports_azure_metrics_and_records_the_config(detection_run):
    import torch

    result = json.dumps(best_result(detection_run))
    assert "mean_average_precision" in result
    record = torch.load(detection_run / "best_model" / "model.pt", weights_only=True)
    assert record["model_name"] == "test_tiny_detr"
    assert record["hf_config"]["model_type"] == "detr"
    assert len(record["hf_config"]["id2label"]) == 1  # the job's labels (raccoon)
    settings = json.loads((detection_run / "best_model" / "settings.json").read_text())
    assert settings["min_size"] == 64 and settings["box_score_thresh"] == 0.01


def test_detection_package_predicts_boxes_in_azure_format(detection_run):
    from automl.engine.predict import Predictor

    predictor = Predictor.from_package(detection_run / "best_model")
    (response,) = predictor.predict(valid_images("raccoon", 1))
    assert response["boxes"], "the tiny model scores above 0.01 somewhere"
    for entry in response["boxes"]:
        assert entry["label"] == "raccoon" and 0 <= entry["score"] <= 1
        box = entry["box"]
        assert 0 <= box["topX"] <= box["bottomX"] <= 1 and 0 <= box["topY"] <= box["bottomY"] <= 1


def test_detection_package_tiles_at_inference(detection_run):
    from automl.engine.predict import Predictor

    predictor = Predictor.from_package(
        detection_run / "best_model", settings={"tile_grid_size": "2x1"}
    )
    assert predictor.task_predictor.tile_grid == (2, 1)
    (response,) = predictor.predict(valid_images("raccoon", 1))
    assert isinstance(response["boxes"], list)


def test_segmentation_package_predicts_polygons(segmentation_run):
    from automl.engine.predict import Predictor

    predictor = Predictor.from_package(
        segmentation_run / "best_model", settings={"box_score_thresh": 0.0}
    )
    (response,) = predictor.predict(valid_images("coco_seg", 1))
    assert response["boxes"]
    entry = response["boxes"][0]
    assert entry["label"] in predictor.labels and "polygon" in entry
    assert all(0 <= v <= 1 for polygon in entry["polygon"] for v in polygon)


def test_registered_detr_serves_azure_requests(detection_run, tmp_path):
    import httpx
    from _support.http_server import ServerThread

    from automl.engine.predict import Predictor
    from automl.engine.serving import create_app

    code = _cli(["model", "register", "--name", "detr", "--path", detection_run])
    assert code == 0
    predictor = Predictor.from_package(detection_run / "best_model")
    path = sorted((BUNDLED_DATA_DIR / "raccoon" / "valid" / "images").iterdir())[0]
    image = base64.b64encode(path.read_bytes()).decode()
    body = {"input_data": {"columns": ["image"], "index": [0], "data": [[image]]}}
    with ServerThread(create_app(predictor, auth_key=None)) as server:
        response = httpx.post(f"{server.url}/score", json=body, timeout=60)
    assert response.status_code == 200, response.text
    (got,) = response.json()
    assert [b["label"] for b in got["boxes"]] == ["raccoon"] * len(got["boxes"])


def _cli(args: list) -> int:
    from automl.cli.main import run

    return run([str(a) for a in args])


def onnx_boxes(path: Path, program, images) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inputs,) = program.inputs(images)
    return session.run(None, {"input": inputs.numpy()})


@pytest.mark.parametrize(
    ("run", "dataset", "fields"),
    [
        ("detection_run", "raccoon", ["boxes_0", "labels_0", "scores_0"]),
        ("segmentation_run", "coco_seg", ["boxes_0", "labels_0", "scores_0", "masks_0"]),
    ],
)
def test_onnx_export_matches_pytorch(run, dataset, fields, request, tmp_path):
    import torch

    from automl.engine.export import export_onnx
    from automl.engine.predict import Predictor

    predictor = Predictor.from_package(request.getfixturevalue(run) / "best_model")
    images = valid_images(dataset, 1)
    result = export_onnx(predictor, tmp_path / "model.onnx", images=images)
    assert result.output_names == fields
    program = predictor.task_predictor.onnx_program()
    with torch.inference_mode():
        expected = [t.numpy() for t in program.module(*program.inputs(images))]
    got = onnx_boxes(tmp_path / "model.onnx", program, images)
    order_want, order_got = np.argsort(-expected[2], kind="stable"), np.argsort(-got[2])
    np.testing.assert_allclose(got[0][order_got], expected[0][order_want], atol=0.05)
    np.testing.assert_allclose(got[2][order_got], expected[2][order_want], atol=1e-3)
