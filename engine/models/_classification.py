"""The classification models of Azure's list (reference §4.1) plus `test_tiny_cnn`.

Layer groups follow reference §3.10, written with the parameter names of the module we
actually build: timm's SE-ResNeXt names its stem `conv1`/`bn1` where Azure's
(pretrainedmodels) used `layer0`, and timm ViTs keep `cls_token`/`pos_embed` beside
`patch_embed`, so those share the first group.
"""

from __future__ import annotations

from automl.engine.models._base import CLASSIFICATION_TASKS, ModelSpec, register_model
from automl.engine.models._builders import (
    build_timm_classifier,
    build_tiny_cnn,
    build_torchvision_classifier,
)

RESNET_GROUPS = (("conv1.", "bn1."), ("layer1.",), ("layer2.",), ("layer3.",), ("layer4.",))
MOBILENET_GROUPS = tuple((f"features.{i}.",) for i in range(19))
VIT_MEAN_STD = (0.5, 0.5, 0.5)


def vit_groups(n_blocks: int) -> tuple[tuple[str, ...], ...]:
    return (("cls_token", "pos_embed", "patch_embed."),) + tuple(
        (f"blocks.{i}.",) for i in range(n_blocks)
    )


def torchvision_spec(name: str, arch: str, weights_id: str, family: str, groups) -> ModelSpec:
    return ModelSpec(
        name=name,
        tasks=CLASSIFICATION_TASKS,
        family=family,
        source="torchvision",
        builder=build_torchvision_classifier,
        layer_groups=groups,
        weights_id=weights_id,
        extra={"arch": arch},
    )


def timm_spec(name: str, weights_id: str, family: str, groups, **kwargs) -> ModelSpec:
    return ModelSpec(
        name=name,
        tasks=CLASSIFICATION_TASKS,
        family=family,
        source="timm",
        builder=build_timm_classifier,
        layer_groups=groups,
        weights_id=weights_id,
        extra={"arch": weights_id.split(".")[0]},
        **kwargs,
    )


def vit_spec(name: str, weights_id: str, n_blocks: int) -> ModelSpec:
    return timm_spec(
        name,
        weights_id,
        "vit",
        vit_groups(n_blocks),
        mean=VIT_MEAN_STD,
        std=VIT_MEAN_STD,
        grad_clip=("norm", 1.0),
        fixed_crop_size=True,
    )


def register_classification_models() -> None:
    register_model(
        torchvision_spec(
            "mobilenetv2",
            "mobilenet_v2",
            "MobileNet_V2_Weights.IMAGENET1K_V1",
            "mobilenetv2",
            MOBILENET_GROUPS,
        )
    )
    for depth in (18, 34, 50, 101, 152):
        weights = f"ResNet{depth}_Weights.IMAGENET1K_V1"
        register_model(
            torchvision_spec(f"resnet{depth}", f"resnet{depth}", weights, "resnet", RESNET_GROUPS)
        )
    register_model(timm_spec("resnest50", "resnest50d.in1k", "resnest", RESNET_GROUPS))
    register_model(timm_spec("resnest101", "resnest101e.in1k", "resnest", RESNET_GROUPS))
    register_model(
        timm_spec("seresnext", "seresnext50_32x4d.racm_in1k", "seresnext", RESNET_GROUPS)
    )
    register_model(vit_spec("vits16r224", "vit_small_patch16_224.augreg_in21k_ft_in1k", 12))
    register_model(vit_spec("vitb16r224", "vit_base_patch16_224.augreg2_in21k_ft_in1k", 12))
    register_model(vit_spec("vitl16r224", "vit_large_patch16_224.augreg_in21k_ft_in1k", 24))
    register_model(
        ModelSpec(
            name="test_tiny_cnn",
            tasks=CLASSIFICATION_TASKS,
            family="tiny",
            source="builtin",
            builder=build_tiny_cnn,
            layer_groups=(("stem.",), ("stage1.",), ("stage2.",)),
            input_size=64,
        )
    )


register_classification_models()
