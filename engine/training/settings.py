"""The effective hyperparameters of one trial, read from `spec["training_parameters"]`.

The spec carries the complete set (user values, sampled values, per-model and task
defaults, filled by `engine.config.resolve_trial_parameters`), so nothing is defaulted
here: a missing key is a bug in whoever wrote the spec and is reported by name.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

from automl.engine.errors import TrialError

# Keys whose documented default is "none": absent and null mean the same.
OPTIONAL_KEYS = ("checkpoint_frequency", "layers_to_freeze", "random_seed", "checkpoint_run_id")


@dataclass(frozen=True, kw_only=True)
class CommonTrainingSettings:
    """The keys every task's trainer reads: Azure v2 names (docs/azure-compatibility.md §3.3) plus
    our
    extension `pretrained`. Fields with a default are optional in the spec."""

    model_name: str
    number_of_epochs: int
    training_batch_size: int
    validation_batch_size: int
    learning_rate: float
    learning_rate_scheduler: str
    warmup_cosine_lr_cycles: float
    warmup_cosine_lr_warmup_epochs: int
    step_lr_gamma: float
    step_lr_step_size: int
    optimizer: str
    momentum: float
    weight_decay: float
    nesterov: bool
    beta1: float
    beta2: float
    ams_gradient: bool
    gradient_accumulation_step: int
    early_stopping: bool
    early_stopping_patience: int
    early_stopping_delay: int
    evaluation_frequency: int
    number_of_workers: int
    pretrained: bool
    checkpoint_frequency: int | None = None
    layers_to_freeze: int | None = None
    random_seed: int | None = None
    checkpoint_run_id: str | None = None

    @classmethod
    def from_parameters(cls, params: dict):
        """Pick the keys this trainer uses; raise TrialError naming every missing one."""
        names = [f.name for f in fields(cls)]
        optional = {f.name for f in fields(cls) if f.default is not MISSING}
        missing = [n for n in names if n not in params and n not in optional]
        if missing:
            raise TrialError(
                "spec.json training_parameters lacks " + ", ".join(missing),
                hint="build training_parameters with engine.config.resolve_trial_parameters",
            )
        return cls(**{n: params[n] for n in names if n in params})


@dataclass(frozen=True, kw_only=True)
class TrainingSettings(CommonTrainingSettings):
    """Classification trials: the common keys plus docs/azure-compatibility.md §3.4."""

    weighted_loss: int
    training_crop_size: int
    validation_crop_size: int
    validation_resize_size: int
    # our extension (schema: "Extension of automl-vision"); None (a spec written before
    # these keys existed) means the schema default, Azure's transform
    augmentation_min_crop_area: float | None = None
    augmentation_color_jitter: float | None = None
    augmentation_hflip: bool | None = None


AUGMENTATION_KEYS = (
    "augmentation_min_crop_area",
    "augmentation_color_jitter",
    "augmentation_hflip",
)


def augmentation_settings(settings: TrainingSettings, task: str) -> dict:
    """The training augmentation of a classification trial as the transform's keyword
    arguments (`min_crop_area`, `color_jitter`, `hflip`), absent keys at their schema default."""
    from automl import schemas

    values = {}
    for key in AUGMENTATION_KEYS:
        value = getattr(settings, key)
        values[key] = schemas.task_default(task, key) if value is None else value
    return {key.removeprefix("augmentation_"): value for key, value in values.items()}


@dataclass(frozen=True, kw_only=True)
class DetectionTrainingSettings(CommonTrainingSettings):
    """Object detection and instance segmentation trials: the common keys plus reference
    §3.5 and §3.7 (tiling keys exist for object detection only)."""

    min_size: int
    max_size: int
    box_score_threshold: float
    nms_iou_threshold: float
    box_detections_per_image: int
    validation_metric_type: str
    validation_iou_threshold: float
    log_validation_loss: str
    advanced_settings: dict
    # tiling keys: object detection only, and read only when tile_grid_size is set (the
    # spec then has all three, filled from the schema's defaults)
    tile_grid_size: str | None = None
    tile_overlap_ratio: float | None = None
    tile_predictions_nms_threshold: float | None = None


def advanced_setting(settings: Any, key: str) -> Any:
    """One key of the trial's `advanced_settings`, or its schema default when absent."""
    if key in settings.advanced_settings:
        return settings.advanced_settings[key]
    from automl import schemas

    return schemas.advanced_settings_defaults()[key]
