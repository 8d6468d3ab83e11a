"""Ultralytics YOLO models behind a thin adapter: yolov5 (Ultralytics' YOLOv5u), yolov8,
yolo11 (object detection), yolov8-seg, yolo11-seg (instance segmentation), plus the tiny
`test_tiny_yolo` / `test_tiny_yolo_seg` for tests.

Ultralytics is AGPL-3.0, so it is imported only inside functions of this module (and of
engine/training/_yolo.py, engine/predict/_yolo.py): `import automl.engine.models` never
loads it. Models are built from Ultralytics' own model YAML (`model_size` small / medium /
large / extra_large (xlarge) -> scale s / m / l / x) with no weights; `pretrained` then
loads the COCO checkpoint from Ultralytics' weights dir (`ultralytics.utils.WEIGHTS_DIR`,
the user's existing downloads) into the tensors whose shapes fit (the class-specific head
convolutions of another class count stay new). We never let Ultralytics download on its
own: `YOLO_OFFLINE` is set before the import, and downloads go through
`automl weights fetch NAME` (engine/models/_weights.py) with the same offline error as the
torchvision and timm families.

The model package stores the state dict and the model YAML dict (plain JSON types), never
the pickled Ultralytics object, so model.pt loads with `torch.load(weights_only=True)`.
A package's architecture is rebuilt from Ultralytics' own config of its model name and
size, never from its stored YAML: Ultralytics' `parse_model` calls `eval()` on a config's
`activation` and resolves its layer names among its own globals, so a stored YAML is only
compared with the regenerated one and refused when it differs (`package_yolo_config`).
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

from torch import nn

from automl import schemas
from automl.engine.errors import AutomlError, TrialError
from automl.engine.models._base import ModelSpec, get_model_spec, register_model
from automl.engine.models._checks import package_error, quoted
from automl.engine.models._detection import tile_settings
from automl.engine.models._family import ModelFamily, register_family
from automl.engine.tasks import get_task, tasks_of_kind

logger = logging.getLogger("automl.models")

(DETECTION_TASK,) = tasks_of_kind("detection")
(SEGMENTATION_TASK,) = tasks_of_kind("segmentation")
YOLO_FAMILY = "yolo"
YOLO_RUNTIME = "ultralytics"
SIZE_SCALES = {"small": "s", "medium": "m", "large": "l", "extra_large": "x", "xlarge": "x"}
SIZE_ALIASES = {"xlarge": "extra_large"}  # Azure's v1 spelling
# backbone layers model.0 .. model.9 (docs/azure-compatibility.md §3.10), the same prefixes
# Ultralytics' `freeze=N` uses
YOLO_GROUPS = tuple((f"model.{i}.",) for i in range(10))
# name -> (task, Ultralytics YAML stem ({scale} filled in)); the COCO checkpoint of each
# size is in schemas/weights.json
YOLO_MODELS = {
    "yolov5": (DETECTION_TASK, "yolov5{scale}u"),
    "yolov8": (DETECTION_TASK, "yolov8{scale}"),
    "yolo11": (DETECTION_TASK, "yolo11{scale}"),
    "yolov8-seg": (SEGMENTATION_TASK, "yolov8{scale}-seg"),
    "yolo11-seg": (SEGMENTATION_TASK, "yolo11{scale}-seg"),
}
# YOLOv8's layout at depth 0.33 and width 1/16 (about 0.2 M parameters): real Ultralytics
# code paths in seconds on a CPU at 64-96 px
TINY_SCALE = {"tiny": [0.33, 0.0625, 256]}
TINY_MODELS = {
    "test_tiny_yolo": (DETECTION_TASK, "yolov8n"),
    "test_tiny_yolo_seg": (SEGMENTATION_TASK, "yolov8n-seg"),
}
INTEGRATION_SETTINGS = (
    "sync",
    "clearml",
    "comet",
    "dvc",
    "hub",
    "mlflow",
    "neptune",
    "raytune",
    "tensorboard",
    "wandb",
)
# the `activation` strings Ultralytics' parse_model may eval(); our configs set none, and
# a config naming anything else is refused before it reaches parse_model
ALLOWED_ACTIVATIONS = frozenset(
    f"{prefix}{call}"
    for prefix in ("nn.", "torch.nn.")
    for call in ("SiLU()", "ReLU()", "LeakyReLU(0.1)", "Hardswish()", "Mish()", "GELU()")
)
# what Ultralytics' DetectionModel adds to the config it is built from (model.yaml)
BUILT_KEYS = {"channels": 3}


def import_ultralytics():
    """Import Ultralytics with its network features off (no analytics, no downloads).

    Only the adapter modules call this; YOLO_OFFLINE makes Ultralytics' `ONLINE` false, which
    disables its event analytics and its automatic asset downloads.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    from automl.engine.utils.extras import require

    ultralytics = require("ultralytics", "yolo", "YOLO models (Ultralytics, AGPL-3.0)")
    from ultralytics.utils import SETTINGS

    restore_patched_functions()

    # Integrations (MLflow, W&B, ...) and analytics off for this process only: dict's own
    # __setitem__ skips Ultralytics' write-back, so the user's settings file is untouched
    for key in INTEGRATION_SETTINGS:
        if SETTINGS.get(key):
            dict.__setitem__(SETTINGS, key, False)
    return ultralytics


def restore_patched_functions() -> None:
    """Undo Ultralytics' process-wide monkey patches of PIL.Image.open (which pip-installs
    pi-heif on an unknown format) and torch.save: the rest of our process (data checks,
    predictors, checkpoints) must behave the same whether or not a YOLO model was loaded."""
    import PIL.Image
    import torch
    from ultralytics.utils import patches

    PIL.Image.open = getattr(patches, "_image_open", PIL.Image.open)
    torch.save = getattr(patches, "_torch_save", torch.save)


def default_model_size() -> str:
    """The schema's model_size default (Azure's medium)."""
    return schemas.task_default(DETECTION_TASK, "model_size")


def model_scale(model_size: str | None) -> str:
    """Azure's model_size (docs/azure-compatibility.md §3.6) as Ultralytics' scale letter."""
    size = model_size or default_model_size()
    if size not in SIZE_SCALES:
        raise TrialError(
            f"training_parameters.model_size={model_size!r} is not a YOLO size",
            hint="use small, medium, large or extra_large (xlarge)",
        )
    return SIZE_SCALES[size]


def model_yaml(spec: ModelSpec, n_classes: int, model_size: str | None) -> dict:
    """Ultralytics' model YAML dict of `spec` at `model_size`, with `n_classes` classes."""
    import_ultralytics()
    from ultralytics.nn.tasks import yaml_model_load

    if spec.extra.get("tiny"):
        config = copy.deepcopy(yaml_model_load(f"{spec.extra['yaml']}.yaml"))
        config.update(scales=copy.deepcopy(TINY_SCALE), scale="tiny")
    else:
        stem = spec.extra["yaml"].format(scale=model_scale(model_size))
        config = copy.deepcopy(yaml_model_load(f"{stem}.yaml"))
    config["nc"] = n_classes
    return config


def model_from_yaml(config: dict, task: str) -> nn.Module:
    """The Ultralytics module of a YAML dict (no weights)."""
    import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel, SegmentationModel

    check_activation(config)
    model_class = SegmentationModel if get_task(task).masks else DetectionModel
    return model_class(copy.deepcopy(config), ch=3, nc=config["nc"], verbose=False)


def check_activation(config: dict) -> None:
    """parse_model eval()s `activation`: only the allow-listed calls pass."""
    activation = config.get("activation")
    if activation is not None and activation not in ALLOWED_ACTIVATIONS:
        raise AutomlError(
            f"YOLO config activation {quoted(activation)} is not allowed",
            hint="allowed: " + ", ".join(sorted(ALLOWED_ACTIVATIONS)),
        )


def build_yolo_model(spec: ModelSpec, n_classes: int, pretrained: bool, options: dict) -> nn.Module:
    """The registry builder: `options` has `model_size` (Ultralytics' config of that size)."""
    options = options or {}
    config = model_yaml(spec, n_classes, options.get("model_size"))
    model = model_from_yaml(config, spec.tasks[0])
    if pretrained and spec.has_pretrained:
        load_coco_weights(model, spec, options.get("model_size"))
    elif pretrained:
        logger.info("%s has no pretrained weights; it trains from scratch", spec.name)
    return model


def build_yolo(spec: ModelSpec, n_labels: int, pretrained: bool, settings: dict) -> nn.Module:
    """The family builder: Ultralytics' config at the settings' model_size."""
    return spec.builder(spec, n_labels, pretrained, {"model_size": settings.get("model_size")})


def weights_url(name: str) -> str:
    """Where Ultralytics downloads `name` from (its GitHub assets release)."""
    import_ultralytics()
    import inspect

    from ultralytics.utils.downloads import attempt_download_asset

    release = inspect.signature(attempt_download_asset).parameters["release"].default
    return f"https://github.com/ultralytics/assets/releases/download/{release}/{name}"


def load_coco_weights(model: nn.Module, spec: ModelSpec, model_size: str | None) -> None:
    """COCO weights into the tensors whose shapes fit (our offline error when missing)."""
    from automl.engine.models._weights import yolo_weights_file

    path = yolo_weights_file(spec, model_size)
    state = read_coco_checkpoint(path)
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fitting, strict=False)
    logger.info("%s: %d of %d tensors from %s", spec.name, len(fitting), len(own), path.name)


def yolo_spec(name: str) -> ModelSpec:
    task, yaml_stem = YOLO_MODELS[name]
    return ModelSpec(
        name=name,
        tasks=(task,),
        family=YOLO_FAMILY,
        runtime=YOLO_RUNTIME,
        source="ultralytics",
        builder=build_yolo_model,
        layer_groups=YOLO_GROUPS,
        input_size=schemas.task_default(task, "image_size"),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        weights_id=schemas.pretrained_weights(name)["weights"],
        extra={"yaml": yaml_stem, "default_frozen_groups": None},
    )


def tiny_yolo_spec(name: str) -> ModelSpec:
    task, yaml_stem = TINY_MODELS[name]
    return ModelSpec(
        name=name,
        tasks=(task,),
        family=YOLO_FAMILY,
        runtime=YOLO_RUNTIME,
        source="builtin",
        builder=build_yolo_model,
        layer_groups=YOLO_GROUPS,
        input_size=64,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        extra={"yaml": yaml_stem, "tiny": True, "default_frozen_groups": None},
    )


def register_yolo_models() -> None:
    register_family(
        ModelFamily(
            YOLO_FAMILY,
            YOLO_RUNTIME,
            build_yolo,
            yolo_settings,
            package_config=package_yolo_config,
            build_from_config=model_from_yaml,
            distributed=schemas.family_distributed(next(iter(YOLO_MODELS))),  # models.json
        )
    )
    for name in YOLO_MODELS:
        register_model(yolo_spec(name))
    for name in TINY_MODELS:
        register_model(tiny_yolo_spec(name))


def yolo_image_size(params: dict) -> int:
    """image_size rounded up to a multiple of 32, as Azure's runtime does
    (docs/azure-compatibility.md §3.6)."""
    size = int(params.get("image_size") or schemas.task_default(DETECTION_TASK, "image_size"))
    return -(-size // 32) * 32


def yolo_settings(task: str, model_name: str, labels: list[str], params: dict) -> dict:
    """settings.json of a YOLO model (docs/azure-compatibility.md §10.3, runtime names):
    img_size, model_size, box_score_thresh, nms_iou_thresh, tiling keys when trained with
    tiles, mask settings."""
    settings = {
        "task": task,
        "model_name": model_name,
        "n_classes": len(labels),
        "img_size": yolo_image_size(params),
        "model_size": params.get("model_size") or default_model_size(),
        "box_score_thresh": params["box_score_threshold"],
        "nms_iou_thresh": params["nms_iou_threshold"],
        "max_det": schemas.inference_default(task, "max_det"),  # docs/azure-compatibility.md §11.3
    }
    settings.update(tile_settings(params, schemas.runtime_names(task)))
    if get_task(task).masks:
        settings.update(schemas.mask_settings())
    return settings


def package_model_size(record: dict, path: Path) -> str | None:
    """The model_size a YOLO package was trained at (model.pt's own settings: an edited
    settings.json does not change the architecture of the weights)."""
    size = record["settings"].get("model_size")
    if size is None:
        size = record["training_parameters"].get("model_size")
    if size is not None and size not in SIZE_SCALES:
        raise package_error(
            path, f"model_size {quoted(size)} is not a YOLO size ({', '.join(SIZE_SCALES)})"
        )
    return size


def package_yolo_config(record: dict, path: Path) -> dict:
    """The YAML dict a YOLO package is rebuilt from: Ultralytics' own config of the
    package's (registered) model name and size with its class count. The package's stored
    `model_yaml`, when present, must equal what that config builds, key for key; a package
    whose YAML differs (another activation, layers, scales) is refused, never built."""
    spec = get_model_spec(record["model_name"])
    config = model_yaml(spec, len(record["labels"]), package_model_size(record, path))
    stored = record.get("model_yaml")
    if stored is not None:
        expected = {**config, **BUILT_KEYS}
        for key in sorted(set(stored) | set(expected), key=str):
            if stored.get(key) != expected.get(key):
                raise package_error(
                    path,
                    f"model_yaml[{quoted(key)}] is {quoted(stored.get(key))}, but Ultralytics' "
                    f"config of {spec.name} ({config.get('yaml_file')}) has "
                    f"{quoted(expected.get(key))}; YOLO models are rebuilt only from "
                    "Ultralytics' own configs",
                )
    return config


def read_coco_checkpoint(path: Path) -> dict:
    """The state dict of a cached Ultralytics COCO checkpoint, read with Ultralytics'
    restricted loader (torch.load(weights_only=True) plus its allow-list of model classes:
    the checkpoint pickles its modules, and the file comes from Ultralytics' weights dir,
    not from this tool)."""
    import inspect

    import_ultralytics()
    from ultralytics.nn.tasks import torch_safe_load

    if "safe_only" not in inspect.signature(torch_safe_load).parameters:
        raise AutomlError(
            f"{path}: this Ultralytics version cannot read checkpoints without unpickling code",
            hint="upgrade Ultralytics (pip install -U 'automl-vision[yolo]'), or train with "
            "pretrained: false",
        )
    try:
        checkpoint, _ = torch_safe_load(str(path), safe_only=True)
    except (TypeError, ModuleNotFoundError) as exc:  # Ultralytics' own errors for bad files
        raise AutomlError(
            f"{path}: not a loadable Ultralytics checkpoint ({str(exc).splitlines()[0][:160]})",
            hint="delete it and fetch it again with `automl weights fetch`",
        ) from None
    model = checkpoint.get("ema") or checkpoint.get("model")
    if not isinstance(model, nn.Module):
        raise AutomlError(f"{path}: holds no model", hint="delete it and fetch it again")
    return model.float().state_dict()


register_yolo_models()
