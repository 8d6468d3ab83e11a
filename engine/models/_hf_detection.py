"""Object detection and instance segmentation with Transformers' DETR family ("transformers"
runtime): `AutoModelForObjectDetection` models (DETR, Conditional DETR, Deformable DETR,
DAB-DETR, RT-DETR (v2), D-FINE, Table Transformer) by hub id, and `DetrForSegmentation`
(DETR with its mask head) for instance segmentation, plus tiny test models built from
configs (`test_tiny_detr`, `test_tiny_detr_seg`).

Why DETR's mask head for instance segmentation: it is the one instance-segmentation head of
Transformers that trains from the same labels and Hungarian-matched loss as its detectors
(`labels=[{"class_labels", "boxes", "masks"}]`), so one wrapper, trainer and predictor
serve both tasks; Mask2Former needs per-pixel mask labels and its own post-processing.

The model package records the model's config (`hf_config` in model.pt, plain JSON types;
also written as config.json by the package writer) and is rebuilt from that config and our
state dict: no hub access, no `trust_remote_code`, only the model types listed here.
Transformers is imported inside functions only: `import automl.engine.models` never loads it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from torch import nn

from automl.engine.errors import AutomlError
from automl.engine.models._base import ModelSpec, register_model
from automl.engine.models._checks import package_error, quoted
from automl.engine.models._detection import detection_settings
from automl.engine.models._family import ModelFamily, register_family
from automl.engine.tasks import tasks_of_kind
from automl.engine.tasks.classification import IMAGENET_MEAN, IMAGENET_STD

logger = logging.getLogger("automl.models")

(DETECTION_TASK,) = tasks_of_kind("detection")
(SEGMENTATION_TASK,) = tasks_of_kind("segmentation")
HF_FAMILY = "hf_detection"
HF_RUNTIME = "transformers"
INSTALL_HINT = "pip install 'automl-vision[transformers]'"
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
BACKBONE_GROUPS = (("model.model.backbone.",),)  # layers_to_freeze: 1 freezes the backbone
# curated hub ids: name -> (task, hub id); the mmd-3x name is Azure's curated MMDetection
# Deformable DETR, served by the same architecture from Transformers (schemas/models.json)
HUB_MODELS = {
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


def transformers_module():
    """`transformers`, or a one-line error naming the extra that installs it."""
    try:
        import transformers
    except ImportError:
        raise AutomlError(
            "Transformers models (DETR family) need the transformers package, which is not "
            "installed",
            hint=INSTALL_HINT,
        ) from None
    return transformers


def tiny_config(task: str):
    """A DETR of a few thousand weights: a 4-stage ResNet of 8-32 channels (no timm, no
    pretrained backbone), d_model 32, one encoder and decoder layer, 10 queries. 8 heads:
    the mask head needs d_model + heads divisible by 8."""
    transformers = transformers_module()
    backbone = transformers.ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 16, 32],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    return transformers.DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=backbone,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=8,
        decoder_attention_heads=8,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=10,
    )


def hub_config(hub_id: str):
    """The cached config.json of `hub_id` (never downloaded here; `automl weights fetch`
    fills the cache), or a one-line error saying how to get it."""
    transformers = transformers_module()
    try:
        return transformers.AutoConfig.from_pretrained(hub_id, local_files_only=True)
    except OSError:
        raise AutomlError(
            f"model {hub_id!r}: its config.json is not in the Hugging Face cache, and models "
            "are never downloaded during training",
            hint=f"run `automl weights fetch {hub_id}` where the network is reachable",
        ) from None


def checked_config(config, task: str, where: object):
    """`config` with our rules applied: a model type of the task, no backbone download."""
    allowed = SEGMENTATION_TYPES if task == SEGMENTATION_TASK else DETECTION_TYPES
    if config.model_type not in allowed:
        raise AutomlError(
            f"{where}: model type {quoted(config.model_type)} is not a {task} model type "
            f"of the Transformers runtime (types: {', '.join(sorted(allowed))})",
            hint="pick a model of the DETR family (automl schema models)",
        )
    if hasattr(config, "use_pretrained_backbone"):
        config.use_pretrained_backbone = False  # the backbone's weights come with the model
    return config


def model_class(task: str):
    transformers = transformers_module()
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


def pretrained_model(hub_id: str, config, task: str) -> nn.Module:
    """Cached hub weights, heads of another class count re-initialised."""
    try:
        return model_class(task).from_pretrained(
            hub_id, config=config, ignore_mismatched_sizes=True, local_files_only=True
        )
    except OSError:
        raise AutomlError(
            f"pretrained weights of {hub_id!r} are not in the Hugging Face cache",
            hint=f"run `automl weights fetch {hub_id}`, or set pretrained: false",
        ) from None


def processor_mean_std(model_type: str) -> tuple[tuple, tuple]:
    if model_type in UNNORMALISED_TYPES:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return IMAGENET_MEAN, IMAGENET_STD


def wrap(model: nn.Module, settings: dict) -> nn.Module:
    from automl.engine.models._hf_detector import HfDetector

    mean, std = processor_mean_std(model.config.model_type)
    return HfDetector(model, mean=mean, std=std, settings=settings)


def build_hf_detector(spec: ModelSpec, n_labels: int, pretrained: bool, settings: dict):
    """The family builder: the spec's config with the job's labels, wrapped."""
    task = spec.tasks[0]
    hub_id = spec.extra.get("hub_id")
    config = tiny_config(task) if hub_id is None else hub_config(hub_id)
    config = labelled(checked_config(config, task, spec.name), n_labels)
    if pretrained and hub_id is not None:
        model = pretrained_model(hub_id, config, task)
    else:
        if pretrained:
            logger.info("%s has no pretrained weights; it trains from scratch", spec.name)
        model = new_model(config, task)
    return wrap(model, settings)


def record_config(model: nn.Module) -> dict:
    """model.pt's `hf_config`: the wrapped model's config in plain JSON types."""
    return {"hf_config": json.loads(model.config.to_json_string())}


def package_hf_config(record: dict, path: Path) -> dict:
    """The checked config of a package: a mapping naming an allowed model type."""
    config = record.get("hf_config")
    if not isinstance(config, dict):
        raise package_error(path, f"hf_config is {quoted(config)}, expected the model's config")
    allowed = SEGMENTATION_TYPES if record["task"] == SEGMENTATION_TASK else DETECTION_TYPES
    if config.get("model_type") not in allowed:
        raise package_error(
            path,
            f"hf_config.model_type {quoted(config.get('model_type'))} is not one of "
            f"{', '.join(sorted(allowed))}",
        )
    return {"hf_config": config, "settings": record["settings"], "path": str(path)}


def model_from_record_config(package_config: dict, task: str) -> nn.Module:
    """The untrained module of a package, from its recorded config (no hub access)."""
    transformers = transformers_module()
    values = dict(package_config["hf_config"])
    config_class = transformers.CONFIG_MAPPING[values["model_type"]]
    config = checked_config(
        config_class.from_dict(values), task, Path(package_config["path"]).parent
    )
    return wrap(new_model(config, task), package_config["settings"])


def hub_spec(name: str, task: str, hub_id: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        tasks=(task,),
        family=HF_FAMILY,
        runtime=HF_RUNTIME,
        source="huggingface",
        builder=build_hf_detector,
        layer_groups=BACKBONE_GROUPS,
        input_size=800,
        weights_id=hub_id,
        grad_clip=("norm", 0.1),  # DETR's reference training clips by norm 0.1
        extra={"hub_id": hub_id, "default_frozen_groups": None},
    )


def tiny_spec(name: str, task: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        tasks=(task,),
        family="tiny_hf_detection",
        runtime=HF_RUNTIME,
        source="builtin",
        builder=build_hf_detector,
        layer_groups=BACKBONE_GROUPS,
        input_size=64,
        grad_clip=("norm", 0.1),
        extra={"default_frozen_groups": None},
    )


def build_model(spec: ModelSpec, n_labels: int, pretrained: bool, settings: dict) -> nn.Module:
    return spec.builder(spec, n_labels, pretrained, settings)


def register_hf_detection_models() -> None:
    for family in (HF_FAMILY, "tiny_hf_detection"):
        register_family(
            ModelFamily(
                family,
                HF_RUNTIME,
                build_model,
                detection_settings,
                package_config=package_hf_config,
                build_from_config=model_from_record_config,
                record_extras=record_config,
            )
        )
    for name, (task, hub_id) in HUB_MODELS.items():
        register_model(hub_spec(name, task, hub_id))
    for name, task in TINY_MODELS.items():
        register_model(tiny_spec(name, task))


register_hf_detection_models()
