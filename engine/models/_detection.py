"""Torchvision detectors of Azure's list (docs/azure-compatibility.md §4.1): Faster R-CNN and Mask
R-CNN with
ResNet-18..152 FPN backbones, RetinaNet ResNet-50 FPN, plus tiny variants for tests.

Pretrained weights: the ResNet-50 models load torchvision's COCO detection weights (the
class-specific heads are re-initialised for the job's labels); torchvision has no COCO
weights for the other depths, so those load ImageNet weights into the backbone only and
train the FPN and heads from scratch. Pretrained backbones use FrozenBatchNorm2d (batches
of 2 images cannot estimate batch statistics), as torchvision's own builders do; a model
trained from scratch uses BatchNorm2d.

Layer groups (`layers_to_freeze`, docs/azure-compatibility.md §3.10) are the backbone's
`conv1`(+`bn1`),
`layer1` .. `layer4`; R-CNN and RetinaNet freeze conv1 + layer1 by default when pretrained.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import torch
from torch import nn

from automl import schemas
from automl.engine.models._base import ModelSpec, register_model
from automl.engine.models._family import ModelFamily, register_family
from automl.engine.tasks import get_task, tasks_of_kind

logger = logging.getLogger("automl.models")

(DETECTION_TASK,) = tasks_of_kind("detection")
(SEGMENTATION_TASK,) = tasks_of_kind("segmentation")
RESNET_DEPTHS = (18, 34, 50, 101, 152)
RCNN_GROUPS = (
    ("backbone.body.conv1.", "backbone.body.bn1."),
    ("backbone.body.layer1.",),
    ("backbone.body.layer2.",),
    ("backbone.body.layer3.",),
    ("backbone.body.layer4.",),
)
TINY_GROUPS = RCNN_GROUPS[:3]
DEFAULT_FROZEN_GROUPS = 2  # conv1 + layer1, Azure's default for R-CNN/RetinaNet backbones


def model_options(spec: ModelSpec, settings: dict) -> dict:
    """Constructor keywords of the torchvision detector from package settings (runtime
    names: min_size, max_size, box_score_thresh, nms_iou_thresh, box_detections_per_img)."""
    options = {"min_size": int(settings["min_size"]), "max_size": int(settings["max_size"])}
    score, nms = float(settings["box_score_thresh"]), float(settings["nms_iou_thresh"])
    detections = int(settings["box_detections_per_img"])
    if spec.extra["arch"] == "retinanet":  # RetinaNet names the same knobs differently
        options.update(score_thresh=score, nms_thresh=nms, detections_per_img=detections)
    else:
        options.update(
            box_score_thresh=score, box_nms_thresh=nms, box_detections_per_img=detections
        )
    return options


def build_torchvision_detector(
    spec: ModelSpec, n_classes: int, pretrained: bool, options: dict
) -> nn.Module:
    """Faster R-CNN / Mask R-CNN / RetinaNet with a ResNet-FPN backbone.

    `n_classes` counts torchvision's background (labels are 1-based). The module layout
    equals torchvision's own builders', so their COCO state dicts load key for key.
    """
    from torchvision.models import resnet
    from torchvision.ops import misc

    norm_layer = misc.FrozenBatchNorm2d if pretrained else nn.BatchNorm2d
    body = getattr(resnet, f"resnet{spec.extra['depth']}")(weights=None, norm_layer=norm_layer)
    model = assemble_detector(spec.extra["arch"], body, n_classes, options)
    if pretrained:
        load_pretrained_detector(model, spec)
    return model


def assemble_detector(arch: str, body: nn.Module, n_classes: int, options: dict) -> nn.Module:
    # _resnet_fpn_extractor is what torchvision's builders call; trainable_layers=5 leaves
    # every layer trainable so that layers_to_freeze alone decides what is frozen.
    from torchvision.models.detection import FasterRCNN, MaskRCNN, RetinaNet
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    if arch == "retinanet":
        backbone = _resnet_fpn_extractor(
            body, 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)
        )
        return RetinaNet(backbone, n_classes, **options)
    backbone = _resnet_fpn_extractor(body, 5)
    detector = MaskRCNN if arch == "maskrcnn" else FasterRCNN
    return detector(backbone, num_classes=n_classes, **options)


def load_pretrained_detector(model: nn.Module, spec: ModelSpec) -> None:
    """COCO weights (tensors whose shape fits: heads of other class counts are skipped) or,
    without COCO weights for this depth, ImageNet weights into the backbone body."""
    from automl.engine.models._weights import weights_file

    state = torch.load(weights_file(spec), map_location="cpu", weights_only=True)
    if spec.extra["weights_kind"] == "imagenet_backbone":
        state = {f"backbone.body.{k}": v for k, v in state.items() if not k.startswith("fc.")}
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fitting, strict=False)
    logger.info(
        "%s: %d of %d tensors from %s weights (%s)",
        spec.name,
        len(fitting),
        len(own),
        "COCO" if spec.extra["weights_kind"] == "coco" else "ImageNet backbone",
        spec.weights_id,
    )


class TinyBackbone(nn.Module):
    """Two small conv stages at stride 8, one feature map: detectors train in seconds on
    64-128 px images. Named like a ResNet body so the R-CNN layer groups apply."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.body = nn.Module()
        self.body.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.body.bn1 = nn.BatchNorm2d(16)
        self.body.layer1 = _tiny_stage(16, channels)
        self.body.layer2 = _tiny_stage(channels, channels)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        body = self.body
        x = torch.relu(body.bn1(body.conv1(x)))
        return OrderedDict([("0", body.layer2(body.layer1(x)))])


def _tiny_stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def build_tiny_detector(
    spec: ModelSpec, n_classes: int, pretrained: bool, options: dict
) -> nn.Module:
    """test_tiny_fasterrcnn / test_tiny_retinanet / test_tiny_maskrcnn: the real torchvision
    detector classes over TinyBackbone with small heads."""
    from torchvision.models.detection import FasterRCNN, MaskRCNN, RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.models.detection.retinanet import RetinaNetHead
    from torchvision.ops import MultiScaleRoIAlign

    if pretrained:
        logger.info("%s has no pretrained weights; it trains from scratch", spec.name)
    backbone = TinyBackbone()
    channels = backbone.out_channels
    anchors = AnchorGenerator(sizes=((16, 32, 64),), aspect_ratios=((0.5, 1.0, 2.0),))
    arch = spec.extra["arch"]
    if arch == "retinanet":
        head = RetinaNetHead(channels, anchors.num_anchors_per_location()[0], n_classes)
        return RetinaNet(backbone, n_classes, anchor_generator=anchors, head=head, **options)
    common = {
        # fewer proposals and sampled RoIs than the full-size defaults (2000/1000, 512):
        # a 96 px image holds few objects, and tests run on two shared CPU cores
        "rpn_pre_nms_top_n_train": 200,
        "rpn_post_nms_top_n_train": 100,
        "rpn_pre_nms_top_n_test": 100,
        "rpn_post_nms_top_n_test": 50,
        "box_batch_size_per_image": 64,
        "rpn_anchor_generator": anchors,
        "box_roi_pool": MultiScaleRoIAlign(["0"], 7, 2),
        "box_head": TwoMLPHead(channels * 7 * 7, 64),
        "box_predictor": FastRCNNPredictor(64, n_classes),
        **options,
    }
    if arch == "fasterrcnn":
        return FasterRCNN(backbone, **common)
    return MaskRCNN(
        backbone,
        mask_roi_pool=MultiScaleRoIAlign(["0"], 14, 2),
        mask_head=MaskRCNNHeads(channels, (channels, channels), 1),
        mask_predictor=MaskRCNNPredictor(channels, channels, n_classes),
        **common,
    )


def detector_spec(arch: str, depth: int) -> ModelSpec:
    task = SEGMENTATION_TASK if arch == "maskrcnn" else DETECTION_TASK
    name = f"{arch}_resnet{depth}_fpn"
    coco = depth == 50  # torchvision has COCO weights for ResNet-50 only (weights.json)
    return ModelSpec(
        name=name,
        tasks=(task,),
        family="torchvision_detection",
        runtime="torch",
        source="torchvision",
        builder=build_torchvision_detector,
        layer_groups=RCNN_GROUPS,
        input_size=600,
        weights_id=schemas.pretrained_weights(name)["weights"],
        extra={
            "arch": arch,
            "depth": depth,
            "weights_kind": "coco" if coco else "imagenet_backbone",
            "default_frozen_groups": DEFAULT_FROZEN_GROUPS,
        },
    )


def tiny_spec(arch: str) -> ModelSpec:
    task = SEGMENTATION_TASK if arch == "maskrcnn" else DETECTION_TASK
    return ModelSpec(
        name=f"test_tiny_{arch}",
        tasks=(task,),
        family="tiny_detection",
        runtime="torch",
        source="builtin",
        builder=build_tiny_detector,
        layer_groups=TINY_GROUPS,
        input_size=96,
        extra={"arch": arch, "default_frozen_groups": None},
    )


def build_detector(spec: ModelSpec, n_labels: int, pretrained: bool, settings: dict) -> nn.Module:
    """The family builder: torchvision's background class added, resize and thresholds
    from the settings (they are constructor arguments of torchvision's detectors)."""
    return spec.builder(spec, n_labels + 1, pretrained, model_options(spec, settings))


def register_detection_models() -> None:
    for family in ("torchvision_detection", "tiny_detection"):
        register_family(ModelFamily(family, "torch", build_detector, detection_settings))
    for arch in ("fasterrcnn", "maskrcnn"):
        for depth in RESNET_DEPTHS:
            register_model(detector_spec(arch, depth))
    register_model(detector_spec("retinanet", 50))
    for arch in ("fasterrcnn", "retinanet", "maskrcnn"):
        register_model(tiny_spec(arch))


TILE_KEYS = ("tile_grid_size", "tile_overlap_ratio", "tile_predictions_nms_threshold")


def detection_settings(task: str, model_name: str, labels: list[str], params: dict) -> dict:
    """settings.json of a detector (docs/azure-compatibility.md §10.3), in Azure's runtime names.

    Tiling keys are written when the trial trained with tiles; users may add them to an
    untiled model's settings.json to tile at inference only (docs/azure-compatibility.md §9).
    """
    from automl.schemas import runtime_names

    names = runtime_names(task)
    settings = {"task": task, "model_name": model_name, "n_classes": len(labels)}
    for key in ("min_size", "max_size", "box_score_threshold", "nms_iou_threshold"):
        settings[names.get(key, key)] = params[key]
    settings[names.get("box_detections_per_image", "box_detections_per_img")] = params[
        "box_detections_per_image"
    ]
    settings.update(tile_settings(params, names))
    if get_task(task).masks:
        settings.update(schemas.mask_settings())
    return settings


def tile_settings(params: dict, names: dict[str, str]) -> dict:
    """The tiling keys of settings.json (runtime names), when the trial trained with tiles."""
    if not params.get("tile_grid_size"):
        return {}
    return {names.get(key, key): params[key] for key in TILE_KEYS}


def apply_inference_settings(model: nn.Module, settings: dict) -> None:
    """Set a built detector's resize and post-processing from settings (runtime names), so
    overrides given at load time take effect without rebuilding the model."""
    transform = model.transform
    transform.min_size = (int(settings["min_size"]),)
    transform.max_size = int(settings["max_size"])
    score = float(settings["box_score_thresh"])
    nms = float(settings["nms_iou_thresh"])
    detections = int(settings["box_detections_per_img"])
    heads = getattr(model, "roi_heads", None)
    if heads is not None:
        heads.score_thresh, heads.nms_thresh, heads.detections_per_img = score, nms, detections
    else:  # RetinaNet keeps them on the model
        model.score_thresh, model.nms_thresh, model.detections_per_img = score, nms, detections


register_detection_models()
