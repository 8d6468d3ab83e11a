"""Object detection and instance segmentation with Transformers' DETR family ("transformers"
runtime): `AutoModelForObjectDetection` models (DETR, Conditional DETR, Deformable DETR,
DAB-DETR, RT-DETR (v2), D-FINE, Table Transformer) by hub id, and `DetrForSegmentation`
(DETR with its mask head) for instance segmentation, plus tiny test models built from
configs (`test_tiny_detr`, `test_tiny_detr_seg`).

Why DETR's mask head for instance segmentation: it is the one instance-segmentation head of
Transformers that trains from the same labels and Hungarian-matched loss as its detectors
(`labels=[{"class_labels", "boxes", "masks"}]`), so one wrapper, trainer and predictor
serve both tasks; Mask2Former needs per-pixel mask labels and its own post-processing.

These are the detection and segmentation `HubAdapter`s of the `transformers` family
(engine/models/_hf.py: hub ids, the Hugging Face cache, offline errors, the recorded config).
A hub id of another detection architecture of `AutoModelForObjectDetection` resolves like
any hub id; its config must name one of the model types below. The model package records
the model's config (`hf_config`) and is rebuilt from it and our state dict: no hub access,
no `trust_remote_code`. Transformers is imported inside functions only.
"""

from __future__ import annotations

import logging

from torch import nn

from automl import schemas
from automl.engine.errors import AutomlError
from automl.engine.models._base import ModelSpec, register_model
from automl.engine.models._checks import quoted
from automl.engine.models._detection import detection_settings
from automl.engine.models._hf import (
    HUB_FAMILY,
    HUB_RUNTIME,
    HubAdapter,
    config_from_dict,
    load_hub_config,
    load_hub_weights,
    register_hub_adapter,
    transformers_module,
)
from automl.engine.tasks import tasks_of_kind
from automl.engine.tasks.classification import IMAGENET_MEAN, IMAGENET_STD

logger = logging.getLogger("automl.models")

(DETECTION_TASK,) = tasks_of_kind("detection")
(SEGMENTATION_TASK,) = tasks_of_kind("segmentation")
# model types of AutoModelForObjectDetection whose forward takes our batches and labels
DETECTION_TYPES = frozenset(
    {
        "detr",
        "conditional_detr",
        "deformable_detr",
        "dab-detr",
        "rt_detr",
        "rt_detr_v2",
        "d_fine",
        "table-transformer",
    }
)
SEGMENTATION_TYPES = frozenset({"detr"})  # DetrForSegmentation
# image processors that rescale to [0, 1] without mean/std normalisation
UNNORMALISED_TYPES = frozenset({"rt_detr", "rt_detr_v2", "d_fine"})
# curated names -> (task, hub id); the mmd-3x name is Azure's curated MMDetection
# Deformable DETR, trained here as the same architecture from Transformers
CURATED = {
    "facebook/detr-resnet-50": (DETECTION_TASK, "facebook/detr-resnet-50"),
    "microsoft/conditional-detr-resnet-50": (
        DETECTION_TASK,
        "microsoft/conditional-detr-resnet-50",
    ),
    "SenseTime/deformable-detr": (DETECTION_TASK, "SenseTime/deformable-detr"),
    "SenseTime/deformable-detr-with-box-refine-two-stage": (
        DETECTION_TASK,
        "SenseTime/deformable-detr-with-box-refine-two-stage",
    ),
    "PekingU/rtdetr_r50vd": (DETECTION_TASK, "PekingU/rtdetr_r50vd"),
    "mmd-3x-deformable-detr_refine_twostage_r50_16xb2-50e_coco": (
        DETECTION_TASK,
        "SenseTime/deformable-detr-with-box-refine-two-stage",
    ),
    "facebook/detr-resnet-50-panoptic": (SEGMENTATION_TASK, "facebook/detr-resnet-50-panoptic"),
}
TINY_MODELS = {"test_tiny_detr": DETECTION_TASK, "test_tiny_detr_seg": SEGMENTATION_TASK}
# test_tiny_detr(_seg): a DETR of ~50k weights: a 4-stage ResNet of 8-32 channels (no timm,
# no pretrained backbone), d_model 32, one encoder and decoder layer, 10 queries; 8 heads
# because the mask head needs d_model + heads divisible by 8
TINY_DETR_CONFIG = {
    "model_type": "detr",
    "use_timm_backbone": False,
    "use_pretrained_backbone": False,
    "backbone_config": {
        "model_type": "resnet",
        "embedding_size": 8,
        "hidden_sizes": [8, 16, 16, 32],
        "depths": [1, 1, 1, 1],
        "layer_type": "basic",
        "out_features": ["stage1", "stage2", "stage3", "stage4"],
    },
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 8,
    "decoder_attention_heads": 8,
    "encoder_ffn_dim": 32,
    "decoder_ffn_dim": 32,
    "num_queries": 10,
}


def allowed_types(task: str) -> frozenset[str]:
    return SEGMENTATION_TYPES if task == SEGMENTATION_TASK else DETECTION_TYPES


def checked_config(config, task: str, where: object):
    """`config` with our rules applied: a model type of the task, no backbone download."""
    allowed = allowed_types(task)
    if config.model_type not in allowed:
        raise AutomlError(
            f"{where}: model type {quoted(config.model_type)} is not a {task} model type "
            f"of the Transformers runtime (types: {', '.join(sorted(allowed))})",
            hint="pick a DETR-family model (automl schema models)",
        )
    if hasattr(config, "use_pretrained_backbone"):
        config.use_pretrained_backbone = False  # the backbone's weights come with the model
    return config


def model_class(task: str):
    transformers = transformers_module(task)
    if task == SEGMENTATION_TASK:
        return transformers.DetrForSegmentation
    return transformers.AutoModelForObjectDetection


def labelled(config, n_labels: int):
    config.num_labels = n_labels
    config.id2label = {i: str(i) for i in range(n_labels)}
    config.label2id = {str(i): i for i in range(n_labels)}
    return config


def new_model(config, task: str) -> nn.Module:
    cls = model_class(task)
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(config)


def processor_mean_std(model_type: str) -> tuple[tuple, tuple]:
    if model_type in UNNORMALISED_TYPES:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return IMAGENET_MEAN, IMAGENET_STD


def default_settings(task: str) -> dict:
    """The resize and post-processing of a package rebuilt from its config (the predictor
    then applies the package's own settings)."""
    return detection_settings(task, "", [], schemas.task_defaults(task))


def wrap(model: nn.Module, settings: dict) -> nn.Module:
    from automl.engine.models._hf_detector import HfDetector

    mean, std = processor_mean_std(model.config.model_type)
    return HfDetector(model, mean=mean, std=std, settings=settings)


def spec_config(spec: ModelSpec, task: str, pretrained: bool):
    if "config" in spec.extra:
        return config_from_dict(dict(spec.extra["config"]))
    return load_hub_config(spec.extra.get("hub_id", spec.name), pretrained)


def build_hub_detector(spec: ModelSpec, n_labels: int, pretrained: bool, settings: dict):
    """The adapters' builder: the spec's config with the job's labels, wrapped; pretrained
    weights from the Hugging Face cache, heads of another class count re-initialised."""
    task = settings["task"]
    pretrained = pretrained and spec.has_pretrained
    config = spec_config(spec, task, pretrained)
    config = labelled(checked_config(config, task, spec.name), n_labels)
    if pretrained:
        model = load_hub_weights(model_class(task), spec.extra.get("hub_id", spec.name), config)
    else:
        model = new_model(config, task)
    return wrap(model, settings)


def build_detector_from_config(config, task: str) -> nn.Module:
    """A package's untrained detector from its recorded config (no hub access)."""
    config = checked_config(config, task, "model package")
    return wrap(new_model(config, task), default_settings(task))


def detr_spec(name: str, task: str, hub_id: str | None) -> ModelSpec:
    """A curated name (weights from `hub_id`'s cache) or, without `hub_id`, the tiny test
    model built from TINY_DETR_CONFIG."""
    extra = {"hub_id": hub_id} if hub_id else {"config": TINY_DETR_CONFIG}
    return ModelSpec(
        name=name,
        tasks=(task,),
        family=HUB_FAMILY,
        runtime=HUB_RUNTIME,
        source="huggingface" if hub_id else "builtin",
        builder=build_hub_detector,
        layer_groups=(),
        input_size=800 if hub_id else 64,
        weights_id=hub_id,
        grad_clip=("norm", 0.1),  # DETR's reference training clips by norm 0.1
        extra=extra,
    )


def register_hub_detectors() -> None:
    for kind in ("detection", "segmentation"):
        register_hub_adapter(
            HubAdapter(
                kind=kind,
                build=build_hub_detector,
                package_settings=detection_settings,
                build_from_config=build_detector_from_config,
            )
        )
    for name, (task, hub_id) in CURATED.items():
        register_model(detr_spec(name, task, hub_id))
    for name, task in TINY_MODELS.items():
        register_model(detr_spec(name, task, None))


register_hub_detectors()
