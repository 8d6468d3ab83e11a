"""What every attribution method shares: the error type, the parameters, the registries.

A classification method (`METHODS`) turns (model, one preprocessed image, one class index)
into an array shaped like the model input, `[3, crop, crop]` float32: how much each input
value pushed the class score up (positive) or down (negative). An object method
(`OBJECT_METHODS`, for detection and instance segmentation) turns (a black-box detector, one
image, the objects it found) into one saliency map per object, `[objects, H, W]` float32.
"""

from __future__ import annotations

import abc
import contextlib
import difflib
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from automl.engine.errors import AutomlError
from automl.engine.tasks import TASKS, tasks_of_kind
from automl.engine.utils.registry import Registry

if TYPE_CHECKING:
    from automl.engine.explain._detector import Detections, Detector

CLASSIFICATION_TASKS = tuple(tasks_of_kind("classification"))
OBJECT_TASKS = tuple(tasks_of_kind("detection")) + tuple(tasks_of_kind("segmentation"))
# The method a model of each task is explained with when the request names none.
DEFAULT_METHODS = {"classification": "xrai", "objects": "drise"}
# captum's integration rules; Azure documents the first two and its runtime accepts all five.
APPROXIMATION_METHODS = (
    "riemann_middle",
    "gausslegendre",
    "riemann_right",
    "riemann_left",
    "riemann_trapezoid",
)
MIN_N_STEPS = 2
MIN_MASK_RES = 2


def is_multilabel(task: str) -> bool:
    """The task's descriptor says so (an unknown task is not)."""
    return task in TASKS and TASKS.get(task).multilabel


class ExplainError(AutomlError):
    """Explanation parameters, or the model asked to explain, cannot be used as given."""


@dataclass(frozen=True)
class ExplainParameters:
    """Azure's `xai_parameters` (docs/azure-compatibility.md §7.3), checked; build with `checked()`.

    `method` None is the task's default (`xrai`; `drise` for detection and segmentation).
    `n_masks`, `mask_res` and `seed` are D-RISE's (our extension; bounded by the
    `drise_masks` and `drise_mask_res` limits of schemas/limits.json); `n_masks` None is
    chosen per model for about 10 s on one GPU (engine/explain/_drise.py).
    """

    method: str | None = None
    n_steps: int = 50
    xrai_fast: bool = True
    approximation_method: str = "riemann_middle"
    confidence_score_threshold_multilabel: float = 0.5
    visualizations: bool = True
    attributions: bool = True
    n_masks: int | None = None
    mask_res: int = 16
    seed: int = 0

    def checked(self) -> ExplainParameters:
        """Return self when every value is usable; otherwise raise ExplainError naming all."""
        problems = [problem for check in _CHECKS if (problem := check(self))]
        if problems:
            raise ExplainError(
                "bad explanation parameters: " + "; ".join(problems),
                hint="see `automl model explain --help` (Azure xai_parameters, "
                "docs/azure-compatibility.md §7.3)",
            )
        return self

    def as_kwargs(self) -> dict:
        """Keyword arguments of `explain_images` with these values."""
        return dict(vars(self))

    def for_task(self, task: str) -> ExplainParameters:
        """These parameters for a model of `task`, the task's default method filled in;
        ExplainError when the task cannot be explained or the method does not fit it."""
        kind = task_kind(task)
        registry = METHODS if kind == "classification" else OBJECT_METHODS
        method = self.method or DEFAULT_METHODS[kind]
        if method not in registry:
            raise ExplainError(
                f"xai_algorithm {method!r} does not explain {task} models "
                f"(for them choose {', '.join(registry.names())})",
                hint=f"leave the method out to use {DEFAULT_METHODS[kind]!r}",
            )
        return replace(self, method=method)


def task_kind(task: object) -> str:
    """'classification' or 'objects' (detection, segmentation); ExplainError otherwise."""
    if task in CLASSIFICATION_TASKS:
        return "classification"
    if task in OBJECT_TASKS:
        return "objects"
    raise ExplainError(
        f"explanations are not supported for task {task!r}; "
        f"supported tasks: {', '.join(CLASSIFICATION_TASKS + OBJECT_TASKS)}",
        hint="score the model without model_explainability",
    )


def _check_method(params: ExplainParameters) -> str | None:
    names = METHODS.names() + OBJECT_METHODS.names()
    if params.method is None or (isinstance(params.method, str) and params.method in names):
        return None
    close = difflib.get_close_matches(str(params.method), names, n=1, cutoff=0.5)
    suggestion = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"xai_algorithm {params.method!r} is not a method (choose {', '.join(names)}){suggestion}"
    )


def _check_n_steps(params: ExplainParameters) -> str | None:
    value = params.n_steps
    if isinstance(value, int) and not isinstance(value, bool) and value >= MIN_N_STEPS:
        return None
    return (
        f"n_steps must be an integer of at least {MIN_N_STEPS}, got {value!r} "
        "(the integration path needs two points or more; 50 is the default and converges)"
    )


def _check_approximation(params: ExplainParameters) -> str | None:
    if params.approximation_method in APPROXIMATION_METHODS:
        return None
    return (
        f"approximation_method {params.approximation_method!r} is unknown "
        f"(choose {', '.join(APPROXIMATION_METHODS)})"
    )


def _check_threshold(params: ExplainParameters) -> str | None:
    value = params.confidence_score_threshold_multilabel
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return None
    return f"confidence_score_threshold_multilabel must be a number in [0, 1], got {value!r}"


def _check_flags(params: ExplainParameters) -> str | None:
    for name in ("xrai_fast", "visualizations", "attributions"):
        if not isinstance(getattr(params, name), bool):
            return f"{name} must be true or false, got {getattr(params, name)!r}"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_n_masks(params: ExplainParameters) -> str | None:
    from automl.schemas import limit, limit_hint

    bound = limit("drise_masks")
    if params.n_masks is None or (_is_int(params.n_masks) and 1 <= params.n_masks <= bound):
        return None
    return (
        f"n_masks must be an integer from 1 to {bound}, got {params.n_masks!r} "
        f"(D-RISE runs the detector once per mask; {limit_hint('drise_masks')})"
    )


def _check_mask_res(params: ExplainParameters) -> str | None:
    from automl.schemas import limit, limit_hint

    bound = limit("drise_mask_res")
    if _is_int(params.mask_res) and MIN_MASK_RES <= params.mask_res <= bound:
        return None
    return (
        f"mask_res must be an integer from {MIN_MASK_RES} to {bound}, got {params.mask_res!r} "
        f"(cells per side of D-RISE's random masks; 16 is the default; "
        f"{limit_hint('drise_mask_res')})"
    )


def _check_seed(params: ExplainParameters) -> str | None:
    if _is_int(params.seed) and 0 <= params.seed < 2**63:
        return None
    return f"seed must be a whole number >= 0, got {params.seed!r}"


_CHECKS = (
    _check_method,
    _check_n_steps,
    _check_approximation,
    _check_threshold,
    _check_flags,
    _check_n_masks,
    _check_mask_res,
    _check_seed,
)


@dataclass(frozen=True)
class ExplainSample:
    """One image ready to explain: the model input and the crop it was made from."""

    inputs: torch.Tensor  # [1, 3, H, W], normalised, on the model's device
    image: np.ndarray  # the same resized + centre-cropped image, uint8 [H, W, 3]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    # Per-image work a method can share between the classes it explains (XRAI segments).
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def constant_image(self, value: float) -> torch.Tensor:
        """A uniform image of pixel value `value` (0 black, 1 white), normalised like the
        input: the baselines of integrated gradients."""
        mean = torch.tensor(self.mean, dtype=self.inputs.dtype, device=self.inputs.device)
        std = torch.tensor(self.std, dtype=self.inputs.dtype, device=self.inputs.device)
        pixel = ((value - mean) / std).view(1, -1, 1, 1)
        return pixel.expand_as(self.inputs).contiguous()


class AttributionMethod(abc.ABC):
    """One attribution method. Subclasses register in `METHODS` under Azure's name."""

    name: str = ""
    # the libraries of the `explain` extra it runs on (engine/utils/extras.py)
    modules: tuple[str, ...] = ("captum.attr",)

    def require_modules(self) -> None:
        """MissingExtraError (one line naming the extra) unless its libraries import."""
        from automl.engine.utils.extras import require

        for module in self.modules:
            require(module, "explain", f"{self.name} explanations")

    @abc.abstractmethod
    def attribute(
        self, model: nn.Module, sample: ExplainSample, target: int, params: ExplainParameters
    ) -> np.ndarray:
        """Attributions of class index `target` for `sample`: float32 [3, H, W]."""


METHODS: Registry[AttributionMethod] = Registry("explanation method")


def register_method(cls: type[AttributionMethod]) -> type[AttributionMethod]:
    """Class decorator: register one instance of `cls` under `cls.name`."""
    METHODS.add(cls.name, cls())
    return cls


class ExplainCancelled(Exception):
    """The caller asked an explanation in progress to stop (its client left)."""


StopCheck = Callable[[], bool]


class ObjectAttributionMethod(abc.ABC):
    """One method explaining a detector's objects. Subclasses register in `OBJECT_METHODS`."""

    name: str = ""

    @abc.abstractmethod
    def attribute_objects(
        self,
        detector: Detector,
        image: torch.Tensor,
        targets: Detections,
        params: ExplainParameters,
        should_stop: StopCheck | None = None,
    ) -> np.ndarray:
        """Saliency of each of `targets` (objects `detector` finds in `image`, a [3, H, W]
        tensor in [0, 1]): float32 [len(targets), H, W]. Raises ExplainCancelled once
        `should_stop()` is true."""


OBJECT_METHODS: Registry[ObjectAttributionMethod] = Registry("object explanation method")


def register_object_method(cls: type[ObjectAttributionMethod]) -> type[ObjectAttributionMethod]:
    """Class decorator: register one instance of `cls` in `OBJECT_METHODS` under `cls.name`."""
    OBJECT_METHODS.add(cls.name, cls())
    return cls


def to_numpy_attributions(attributions: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] tensor (possibly on GPU, with a graph) -> float32 [3, H, W] array."""
    return attributions.detach()[0].float().cpu().numpy().astype(np.float32, copy=False)


# Hook-based methods change how shared modules back-propagate while they run: one at a time.
_GRADIENT_LOCK = threading.RLock()


@contextlib.contextmanager
def gradients_for_inputs(model: nn.Module) -> Iterator[None]:
    """Let `model` back-propagate to its input only, restoring it afterwards.

    Parameters stop requiring gradients (no `.grad` memory, no change to the model a server
    shares), and in-place activations run out of place: captum's backward hooks on ReLU must
    not see their input overwritten. Both are restored on exit; results are unchanged.
    """
    with _GRADIENT_LOCK, warnings.catch_warnings():
        # captum warns each time it hooks ReLUs; that is the method working as designed.
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        params = [(p, p.requires_grad) for p in model.parameters()]
        inplace = [m for m in model.modules() if getattr(m, "inplace", False) is True]
        was_training = model.training
        try:
            model.eval()
            for param, _ in params:
                param.requires_grad_(False)
            for module in inplace:
                module.inplace = False
            yield
        finally:
            for param, flag in params:
                param.requires_grad_(flag)
            for module in inplace:
                module.inplace = True
            model.train(was_training)
