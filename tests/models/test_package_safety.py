"""Loading a model package never executes code from it, and every malformed package is a
one-line error naming the file: YOLO configs rebuilt only from Ultralytics' own, a
registered model of the package's task, bounded and typed labels and settings, safe
MLmodel, model.pt refused when unsafe, corrupt, oversized or not a regular file."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from automl.engine.errors import AutomlError, LimitError
from automl.engine.models import (
    build_detection_model,
    build_model,
    load_model_package,
    write_model_package,
)
from automl.engine.models._checks import PackageError
from automl.engine.models.package import read_package

PARAMS = {"validation_resize_size": 40, "validation_crop_size": 32, "training_crop_size": 32}
YOLO_PARAMS = {
    "image_size": 64,
    "model_size": "small",
    "box_score_threshold": 0.2,
    "nms_iou_threshold": 0.4,
}


@pytest.fixture(autouse=True)
def _ultralytics_state(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics_config"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")


@pytest.fixture
def package(tmp_path):
    model = build_model("test_tiny_cnn", 3, pretrained=False)
    return write_model_package(
        tmp_path / "cnn",
        model,
        task="image_classification",
        model_name="test_tiny_cnn",
        labels=["a", "b", "c"],
        training_parameters=PARAMS,
    )


@pytest.fixture
def yolo_package(tmp_path):
    model = build_detection_model("test_tiny_yolo", 2, pretrained=False, settings={})
    return write_model_package(
        tmp_path / "yolo",
        model,
        task="image_object_detection",
        model_name="test_tiny_yolo",
        labels=["a", "b"],
        training_parameters=YOLO_PARAMS,
    )


def edit_record(folder, **changes) -> None:
    record = torch.load(folder / "model.pt", weights_only=True)
    for key, value in changes.items():
        if callable(value):
            value(record)
        else:
            record[key] = value
    torch.save(record, folder / "model.pt")


def one_line_error(caught) -> str:
    message = caught.value.message
    assert "\n" not in message and "Traceback" not in message
    return message


# ---- YOLO: the stored model YAML is never built ------------------------------------------


def test_yolo_activation_code_is_refused_and_never_run(yolo_package, tmp_path):
    """Ultralytics' parse_model eval()s `activation`: this package once ran its code."""
    marker = tmp_path / "executed"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('x') and None or nn.SiLU()"
    edit_record(yolo_package, model_yaml=lambda r: r["model_yaml"].update(activation=code))
    for load in (load_model_package, read_package):
        with pytest.raises(PackageError, match=r"model_yaml\['activation'\]") as caught:
            load(yolo_package)
        assert "model.pt" in one_line_error(caught)
    assert not marker.exists()


def test_yolo_layer_names_of_the_stored_yaml_are_refused(yolo_package):
    def swap_layer(record):
        record["model_yaml"]["head"][-1][2] = "attempt_load_weights"  # any name parse_model finds

    edit_record(yolo_package, model_yaml=swap_layer)
    with pytest.raises(PackageError, match=r"model_yaml\['head'\]"):
        load_model_package(yolo_package)


def test_yolo_package_with_an_unknown_model_size_is_refused(yolo_package):
    edit_record(yolo_package, settings=lambda r: r["settings"].update(model_size="huge"))
    with pytest.raises(PackageError, match="model_size='huge'"):
        load_model_package(yolo_package)


def test_yolo_package_rebuilds_from_ultralytics_config(yolo_package):
    model, meta = load_model_package(yolo_package)
    assert meta["model_name"] == "test_tiny_yolo" and model.yaml.get("activation") is None


def test_activation_outside_the_allow_list_never_reaches_parse_model():
    from automl.engine.models._yolo import model_from_yaml

    config = {"activation": "__import__('os').system('true')", "nc": 1}
    with pytest.raises(AutomlError, match="activation .* is not allowed"):
        model_from_yaml(config, "image_object_detection")


def test_coco_checkpoint_with_code_is_refused_unrun(tmp_path):
    """Cached Ultralytics checkpoints are read with its restricted (weights_only) loader."""
    from automl.engine.models._yolo import read_coco_checkpoint

    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    torch.save({"model": Exploit()}, tmp_path / "yolov8s.pt")
    with pytest.raises(AutomlError, match="not a loadable Ultralytics checkpoint"):
        read_coco_checkpoint(tmp_path / "yolov8s.pt")
    assert not marker.exists()


# ---- model.pt -----------------------------------------------------------------------------


def test_unsafe_model_file_is_one_line_without_the_weights_only_advice(package, tmp_path):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    with open(package / "model.pt", "wb") as handle:
        pickle.dump({"format_version": 1, "x": Exploit()}, handle)
    with pytest.raises(PackageError, match="objects other than tensors") as caught:
        load_model_package(package)
    assert "weights_only" not in str(caught.value) and str(package / "model.pt") in str(
        caught.value
    )
    one_line_error(caught)
    assert not marker.exists()


def test_truncated_model_file(package):
    data = (package / "model.pt").read_bytes()
    (package / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(PackageError, match="truncated or corrupt") as caught:
        load_model_package(package)
    assert "model.pt" in one_line_error(caught)


def test_model_file_that_is_a_fifo_or_too_large(package, monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_MODEL_FILE_BYTES", "1000")
    with pytest.raises(LimitError, match="AUTOML_MAX_MODEL_FILE_BYTES"):
        load_model_package(package)
    monkeypatch.delenv("AUTOML_MAX_MODEL_FILE_BYTES")
    (package / "model.pt").unlink()
    os.mkfifo(package / "model.pt")
    with pytest.raises(AutomlError, match="not a regular file"):
        load_model_package(package)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_name": "no_such_model"}, "not a model this installation knows"),
        ({"model_name": "fasterrcnn_resnet18_fpn"}, "is not a task of model"),
        ({"model_name": ["test_tiny_cnn"]}, "model_name is .* expected a str"),
        ({"labels": "abc"}, "labels is 'abc', expected a list"),
        ({"labels": [1, 2, 3]}, "not a list of label strings"),
        ({"labels": []}, "no labels"),
        ({"state_dict": {"fc.weight": "x"}}, "not a named tensor"),
        ({"format_version": "1"}, "unsupported model package format_version"),
    ],
)
def test_malformed_model_records(package, changes, message):
    edit_record(package, **changes)
    with pytest.raises(AutomlError, match=message) as caught:
        load_model_package(package)
    assert "model.pt" in one_line_error(caught)


def test_labels_over_the_limit(package, monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_MODEL_LABELS", "2")
    with pytest.raises(LimitError, match="3 labels, over the limit of 2"):
        load_model_package(package)


def test_tensors_that_do_not_fit_the_model(package):
    edit_record(package, labels=["a", "b", "c", "d"])
    with pytest.raises(PackageError, match="tensors do not fit") as caught:
        load_model_package(package)
    one_line_error(caught)


# ---- settings.json, labels.json, MLmodel --------------------------------------------------


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        ('{"valid_resize_size": "abc"}', PackageError, "valid_resize_size='abc'"),
        ('{"valid_crop_size": -3}', PackageError, "valid_crop_size=-3"),
        ('{"mean": [0.5]}', PackageError, "mean="),
        ('{"valid_resize_size": 1000000}', LimitError, "AUTOML_MAX_MODEL_INPUT_SIDE"),
        ("[1, 2]", PackageError, "not a JSON object"),
        ('{"valid_resize_size": ', PackageError, "not valid JSON"),
        ("[" * 100000 + "]" * 100000, PackageError, "not valid JSON"),
    ],
)
def test_malformed_settings_json(package, content, error, message):
    (package / "settings.json").write_text(content)
    with pytest.raises(error, match=message) as caught:
        load_model_package(package)
    assert "settings.json" in str(caught.value)
    one_line_error(caught)


def test_settings_json_over_the_size_limit(package, monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_PACKAGE_JSON_BYTES", "10")
    with pytest.raises(LimitError, match="AUTOML_MAX_PACKAGE_JSON_BYTES"):
        load_model_package(package)


def test_settings_json_missing_a_key_falls_back_to_the_recorded_value(package):
    settings = json.loads((package / "settings.json").read_text())
    del settings["valid_resize_size"]
    settings["valid_crop_size"] = 36
    (package / "settings.json").write_text(json.dumps(settings))
    meta = load_model_package(package)[1]
    assert meta["settings"]["valid_resize_size"] == 40 and meta["settings"]["valid_crop_size"] == 36


def test_malformed_labels_json(package):
    (package / "labels.json").write_text('{"a": 1}')
    with pytest.raises(PackageError, match="labels.json.*not a list of label strings"):
        load_model_package(package)


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace("automl.engine.predict.mlflow_loader", "os"),
        lambda text: text.replace("    data: .", "    data: .\n    code: evil"),
        lambda text: "flavors: [1]\n",
    ],
)
def test_mlmodel_may_name_only_our_loader_without_code(package, edit):
    path = package / "MLmodel"
    path.write_text(edit(path.read_text()))
    with pytest.raises(PackageError, match="MLmodel") as caught:
        load_model_package(package)
    one_line_error(caught)


def test_packages_naming_the_loaders_former_module_still_load(package):
    """The MLflow loader moved beside the predictor; packages written before name its old
    module, which is accepted (the same loader, and still no code paths)."""
    path = package / "MLmodel"
    text = path.read_text()
    assert "automl.engine.predict.mlflow_loader" in text
    path.write_text(text.replace("engine.predict.mlflow_loader", "engine.models.mlflow_loader"))
    load_model_package(package)


@pytest.mark.slow
def test_full_size_yolo_package_round_trip(tmp_path):
    """A standard size (yolov5 small: scale 's' of Ultralytics' yolov5u config) rebuilds
    from the regenerated config, equal to the one stored at training."""
    model = build_detection_model("yolov5", 2, pretrained=False, settings={"model_size": "small"})
    folder = write_model_package(
        tmp_path / "yolov5",
        model,
        task="image_object_detection",
        model_name="yolov5",
        labels=["a", "b"],
        training_parameters=YOLO_PARAMS,
    )
    loaded, _ = load_model_package(folder)
    assert loaded.yaml == model.yaml
    edit_record(folder, settings=lambda r: r["settings"].update(model_size="large"))
    with pytest.raises(PackageError, match=r"model_yaml\['scale'\] is 's'"):
        load_model_package(folder)


def test_mlflow_loader_shares_the_checks(yolo_package, tmp_path):
    from automl.engine.predict.mlflow_loader import _load_pyfunc

    marker = tmp_path / "executed"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('x') and None or nn.SiLU()"
    edit_record(yolo_package, model_yaml=lambda r: r["model_yaml"].update(activation=code))
    with pytest.raises(PackageError, match=r"model_yaml\['activation'\]"):
        _load_pyfunc(str(yolo_package))
    assert not marker.exists()
