"""The classification models of Azure's list (docs/azure-compatibility.md §4.1) plus
`test_tiny_cnn`.

Layer groups follow docs/azure-compatibility.md §3.10, written with the parameter names of the
module we
actually build: timm's SE-ResNeXt names its stem `conv1`/`bn1` where Azure's
(pretrainedmodels) used `layer0`, and timm ViTs keep `cls_token`/`pos_embed` beside
`patch_embed`, so those share the first group.
"""

from __future__ import annotations

from torch import nn

from automl import schemas
from automl.engine.models._base import ModelSpec, get_model_spec, register_model
from automl.engine.models._builders import (
    build_timm_classifier,
    build_tiny_cnn,
    build_torchvision_classifier,
)
from automl.engine.models._family import ModelFamily, register_family
from automl.engine.tasks import get_task, tasks_of_kind

CLASSIFICATION_TASKS = tuple(tasks_of_kind("classification"))
CLASSIFIER_FAMILIES = ("mobilenetv2", "resnet", "seresnext", "vit", "tiny_cnn")

RESNET_GROUPS = (("conv1.", "bn1."), ("layer1.",), ("layer2.",), ("layer3.",), ("layer4.",))
MOBILENET_GROUPS = tuple((f"features.{i}.",) for i in range(19))
VIT_MEAN_STD = (0.5, 0.5, 0.5)


def vit_groups(n_blocks: int) -> tuple[tuple[str, ...], ...]:
    return (("cls_token", "pos_embed", "patch_embed."),) + tuple(
        (f"blocks.{i}.",) for i in range(n_blocks)
    )


def build_classifier(spec: ModelSpec, n_labels: int, pretrained: bool, settings: dict) -> nn.Module:
    """The family builder: ViTs are sized to the package's crop (`valid_crop_size`)."""
    return spec.builder(spec, n_labels, pretrained, settings.get("valid_crop_size"))


def classification_settings(
    task: str, model_name: str, labels: list[str], training_parameters: dict
) -> dict:
    """Inference settings of a classifier, from the trial's effective parameters."""
    spec = get_model_spec(model_name)
    multilabel = get_task(task).multilabel
    return {
        "task": task,
        "model_name": model_name,
        "n_classes": len(labels),
        "multilabel": multilabel,
        "valid_resize_size": training_parameters["validation_resize_size"],
        "valid_crop_size": training_parameters["validation_crop_size"],
        "train_crop_size": training_parameters["training_crop_size"],
        "mean": list(spec.mean),
        "std": list(spec.std),
        "score_threshold": schemas.inference_default(task, "score_threshold")
        if multilabel
        else None,
    }


def weights_of(name: str) -> str:
    """The library's name of `name`'s pretrained weights (schemas/weights.json)."""
    return schemas.pretrained_weights(name)["weights"]


def torchvision_spec(name: str, arch: str, family: str, groups) -> ModelSpec:
    return ModelSpec(
        name=name,
        tasks=CLASSIFICATION_TASKS,
        family=family,
        runtime="torch",
        source="torchvision",
        builder=build_torchvision_classifier,
        layer_groups=groups,
        weights_id=weights_of(name),
        extra={"arch": arch},
    )


def timm_spec(name: str, family: str, groups, **kwargs) -> ModelSpec:
    weights_id = weights_of(name)
    return ModelSpec(
        name=name,
        tasks=CLASSIFICATION_TASKS,
        family=family,
        runtime="torch",
        source="timm",
        builder=build_timm_classifier,
        layer_groups=groups,
        weights_id=weights_id,
        extra={"arch": weights_id.split(".")[0]},
        **kwargs,
    )


def vit_spec(name: str, n_blocks: int) -> ModelSpec:
    return timm_spec(
        name,
        "vit",
        vit_groups(n_blocks),
        mean=VIT_MEAN_STD,
        std=VIT_MEAN_STD,
        grad_clip=("norm", 1.0),
        fixed_crop_size=True,
    )


def register_classification_models() -> None:
    for family in CLASSIFIER_FAMILIES:
        register_family(ModelFamily(family, "torch", build_classifier, classification_settings))
    register_model(torchvision_spec("mobilenetv2", "mobilenet_v2", "mobilenetv2", MOBILENET_GROUPS))
    for depth in (18, 34, 50, 101, 152):
        register_model(
            torchvision_spec(f"resnet{depth}", f"resnet{depth}", "resnet", RESNET_GROUPS)
        )
    register_model(timm_spec("resnest50", "resnet", RESNET_GROUPS))
    register_model(timm_spec("resnest101", "resnet", RESNET_GROUPS))
    register_model(timm_spec("seresnext", "seresnext", RESNET_GROUPS))
    register_model(vit_spec("vits16r224", 12))
    register_model(vit_spec("vitb16r224", 12))
    register_model(vit_spec("vitl16r224", 24))
    register_model(
        ModelSpec(
            name="test_tiny_cnn",
            tasks=CLASSIFICATION_TASKS,
            family="tiny_cnn",
            runtime="torch",
            source="builtin",
            builder=build_tiny_cnn,
            layer_groups=(("stem.",), ("stage1.",), ("stage2.",)),
            input_size=64,
        )
    )


register_classification_models()
