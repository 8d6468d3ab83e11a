"""The schema files: valid JSON Schema, every default valid against its own sub-schema,
model lists equal to the shared contract, and no open objects."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from automl import schemas

CONTRACT_MODELS = {
    "image_classification": {
        "mobilenetv2",
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnest50",
        "resnest101",
        "seresnext",
        "vits16r224",
        "vitb16r224",
        "vitl16r224",
        "test_tiny_cnn",
        # Azure's curated Transformers hub ids (any other org/name passes the pattern)
        "microsoft/beit-base-patch16-224-pt22k-ft22k",
        "google/vit-base-patch16-224",
        "facebook/deit-base-patch16-224",
        "microsoft/swinv2-base-patch4-window12-192-22k",
        "test_tiny_vit",
    },
    "image_object_detection": {
        "yolov5",
        "fasterrcnn_resnet18_fpn",
        "fasterrcnn_resnet34_fpn",
        "fasterrcnn_resnet50_fpn",
        "fasterrcnn_resnet101_fpn",
        "fasterrcnn_resnet152_fpn",
        "retinanet_resnet50_fpn",
        "yolov8",
        "yolo11",
        "test_tiny_fasterrcnn",
        "test_tiny_retinanet",
        "test_tiny_yolo",
        # Transformers DETR family (any other org/name passes the pattern); the curated
        # mmd-3x Deformable DETR trains Transformers' Deformable DETR
        "facebook/detr-resnet-50",
        "microsoft/conditional-detr-resnet-50",
        "SenseTime/deformable-detr",
        "SenseTime/deformable-detr-with-box-refine-two-stage",
        "PekingU/rtdetr_r50vd",
        "mmd-3x-deformable-detr_refine_twostage_r50_16xb2-50e_coco",
        "test_tiny_detr",
    },
    "image_instance_segmentation": {
        "maskrcnn_resnet18_fpn",
        "maskrcnn_resnet34_fpn",
        "maskrcnn_resnet50_fpn",
        "maskrcnn_resnet101_fpn",
        "maskrcnn_resnet152_fpn",
        "yolov8-seg",
        "yolo11-seg",
        "test_tiny_maskrcnn",
        "test_tiny_yolo_seg",
        "facebook/detr-resnet-50-panoptic",  # DETR with its mask head
        "test_tiny_detr_seg",
    },
}
CONTRACT_MODELS["image_classification_multilabel"] = CONTRACT_MODELS["image_classification"]


def _validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator({**schema, "$defs": schemas.load_schema()["$defs"]})


@pytest.mark.parametrize("task", [None, *schemas.TASKS])
def test_schema_is_valid_2020_12(task):
    schema = schemas.load_schema(task)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _subschemas_with_default(node, path=()):
    if isinstance(node, dict):
        if "default" in node:
            yield path, node
        for key, value in node.items():
            yield from _subschemas_with_default(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _subschemas_with_default(value, path + (index,))


def test_every_default_is_valid_against_its_own_schema():
    found = list(_subschemas_with_default(schemas.load_schema()))
    assert len(found) > 150
    for path, spec in found:
        errors = list(_validator(spec).iter_errors(spec["default"]))
        assert not errors, f"{'/'.join(map(str, path))}: {errors[0].message}"


@pytest.mark.parametrize("task", schemas.TASKS)
def test_every_model_default_is_valid(task):
    parameters = schemas.load_schema(task)["$defs"]["training_parameters"][task]["properties"]
    for model in schemas.model_names(task):
        for key, value in schemas.model_defaults(task, model).items():
            assert key in parameters, f"{model}: {key} is not a {task} parameter"
            assert key not in schemas.excluded_keys(model)
            errors = list(_validator(parameters[key]).iter_errors(value))
            assert not errors, f"{model}.{key}: {errors[0].message}"


def test_model_defaults_only_name_known_models():
    table = json.loads(schemas.MODELS_PATH.read_text())
    for task, models in table["model_defaults"].items():
        assert set(models) <= set(schemas.model_names(task))


def test_advanced_settings_defaults_are_valid():
    defaults = schemas.advanced_settings_defaults()
    assert defaults == {
        "stream_image_files": False,
        "apply_automl_train_augmentations": True,
        "apply_mosaic_for_yolo": True,
    }
    assert not list(_validator(schemas.advanced_settings_schema()).iter_errors(defaults))
    for task in schemas.TASKS:
        assert json.loads(schemas.task_defaults(task)["advanced_settings"]) == defaults


@pytest.mark.parametrize("task", schemas.TASKS)
def test_model_names_equal_the_contract(task):
    assert set(schemas.model_names(task)) == CONTRACT_MODELS[task]
    assert schemas.default_model(task) in schemas.model_names(task)
    node = schemas.load_schema()["$defs"]["model_name"][task]
    enum = node["enum"] if "enum" in node else node["else"]["enum"]  # else: not a hub id
    assert enum == schemas.model_names(task)  # the schema enum is fed from the same list


def test_families_cover_known_models_and_keys():
    table = json.loads(schemas.MODELS_PATH.read_text())
    all_models = {m for t in schemas.TASKS for m in schemas.model_names(t)}
    all_keys = {k for t in schemas.TASKS for k in schemas.training_parameter_names(t)}
    seen = []
    for family in table["families"].values():
        assert set(family["models"]) <= all_models
        assert set(family["excluded_keys"]) <= all_keys
        seen += family["models"]
    assert sorted(seen) == sorted(all_models)  # each model in exactly one family


def test_defaults_follow_the_reference():
    classification = schemas.task_defaults("image_classification")
    assert classification["model_name"] == "seresnext"
    assert (classification["training_batch_size"], classification["learning_rate"]) == (78, 0.01)
    assert schemas.task_defaults("image_classification_multilabel")["learning_rate"] == 0.035
    assert schemas.model_defaults("image_object_detection", "yolov5")["number_of_epochs"] == 30
    detection = schemas.task_defaults("image_object_detection")
    assert (detection["training_batch_size"], detection["validation_batch_size"]) == (2, 1)
    assert schemas.default_primary_metric("image_classification_multilabel") == "iou"
    assert schemas.default_primary_metric("image_instance_segmentation") == (
        "mean_average_precision"
    )
    assert "tile_grid_size" not in schemas.task_defaults("image_instance_segmentation")


def _objects_without_closed_keys(node, path=()):
    if isinstance(node, dict):
        if (
            "properties" in node
            and node.get("type") == "object"
            and path[-1:]
            not in (
                ("properties",),
                ("tags",),
                ("environment_variables",),
            )
            and "additionalProperties" not in node
            and not _closed_per_branch(node)
        ):
            yield path
        for key, value in node.items():
            yield from _objects_without_closed_keys(value, path + (key,))


def _closed_per_branch(node: dict) -> bool:
    """Distributions close their keys in each `then` (the keys depend on `type`)."""
    branches = node.get("allOf", [])
    return bool(branches) and all(
        b.get("then", {}).get("additionalProperties") is False for b in branches
    )


def test_objects_are_closed():
    open_objects = list(_objects_without_closed_keys(schemas.load_schema()))
    assert open_objects == []


def test_extensions_are_marked():
    for name in ("pretrained",):
        assert "Extension of automl-vision" in schemas.hyperparameter_schema(name)["description"]
    limits = schemas.load_schema()["properties"]["limits"]["properties"]
    assert "Extension of automl-vision" in limits["trial_timeout_minutes"]["description"]
    assert (
        "test_tiny_cnn"
        in schemas.load_schema()["$defs"]["model_name"]["image_classification"]["description"]
    )


def test_conflicting_defaults_are_explained():
    text = schemas.JOB_SCHEMA_PATH.read_text()
    assert "we follow the documentation" in text  # yolov5 batch size
    assert "we follow the reference" in text  # default model per task


def test_task_schema_is_specialised():
    schema = schemas.load_schema("image_object_detection")
    assert schema["properties"]["task"]["const"] == "image_object_detection"
    assert schema["properties"]["primary_metric"]["enum"] == ["mean_average_precision"]
    assert "allOf" not in schema


def test_runtime_names():
    names = schemas.runtime_names("image_object_detection")
    assert names["box_score_threshold"] == "box_score_thresh"
    assert names["learning_rate_scheduler"] == "lr_scheduler"
    assert schemas.runtime_names("image_classification")["validation_crop_size"] == (
        "valid_crop_size"
    )


def test_unknown_task_is_a_config_error():
    from automl.engine.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'image_classification'"):
        schemas.model_names("image_classifcation")


def test_names_that_become_folders_follow_one_rule():
    """`name`, `experiment_name` and `job create --name` share the schema's pattern."""
    from automl import schemas
    from automl.engine.runs import rundir

    schema = schemas.load_schema()
    for key in ("name", "experiment_name"):
        assert schema["properties"][key]["$ref"] == "#/$defs/path_name"
    assert rundir._NAME_PATTERN.pattern == schemas.job_name_pattern()


def test_package_settings_defaults_are_valid_and_cover_the_mask_keys():
    schema = schemas.package_settings_schema()
    for key, spec in schema["properties"].items():
        if "default" in spec:
            errors = list(Draft202012Validator(spec).iter_errors(spec["default"]))
            assert not errors, f"{key}: {errors[0].message}"
    assert set(schemas.mask_settings()) == set(schema["x-mask-keys"])


def test_inference_defaults_come_from_the_schemas():
    detection = "image_object_detection"
    assert schemas.inference_default(detection, "max_det") == 300
    assert schemas.inference_default(detection, "tile_overlap_ratio") == schemas.task_default(
        detection, "tile_overlap_ratio"
    )
    # a runtime name finds its training parameter's default
    assert schemas.inference_default(
        detection, "tile_predictions_nms_thresh"
    ) == schemas.task_default(detection, "tile_predictions_nms_threshold")


def test_sampler_options_follow_the_object_form():
    assert schemas.sampler_names() == ["random", "grid", "bayesian"]
    assert schemas.default_sampler() == "random"
    assert schemas.sampler_options("random") == {"seed": None, "rule": "random"}
    assert schemas.sampler_options("grid") == schemas.sampler_options("bayesian") == {}
