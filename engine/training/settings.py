"""The effective hyperparameters of one trial, read from `spec["training_parameters"]`.

The spec carries the complete set (user values, sampled values, per-model and task
defaults, filled by `engine.config.resolve_trial_parameters`), so nothing is defaulted
here: a missing key is a bug in whoever wrote the spec and is reported by name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from automl.engine.errors import TrialError

# Keys whose documented default is "none": absent and null mean the same.
OPTIONAL_KEYS = ("checkpoint_frequency", "layers_to_freeze", "random_seed", "checkpoint_run_id")


@dataclass(frozen=True)
class TrainingSettings:
    """Azure v2 names (reference §3.3, §3.4) plus our extension `pretrained`."""

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
    weighted_loss: int
    training_crop_size: int
    validation_crop_size: int
    validation_resize_size: int
    pretrained: bool
    checkpoint_frequency: int | None = None
    layers_to_freeze: int | None = None
    random_seed: int | None = None
    checkpoint_run_id: str | None = None

    @classmethod
    def from_parameters(cls, params: dict) -> TrainingSettings:
        """Pick the keys this trainer uses; raise TrialError naming every missing one."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in params and n not in OPTIONAL_KEYS]
        if missing:
            raise TrialError(
                "spec.json training_parameters lacks " + ", ".join(missing),
                hint="build training_parameters with engine.config.resolve_trial_parameters",
            )
        return cls(**{n: params[n] for n in names if n in params})
