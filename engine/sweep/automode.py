"""AutoMode: our own, documented sweep policy for `max_trials > 1` without a search space.

Azure does not publish what its AutoMode samples (docs/azure-compatibility.md §5.5), so this is
ours:

1. **Portfolio first.** Each task has a list of proven configurations (model, learning
   rate, epochs, batch size, image size), ordered by expected value: on a GPU the stronger
   backbones first (ViT-B/16, SE-ResNeXt, ResNet-50 ... for classification; YOLOv8,
   Faster R-CNN R50 ... for detection), on a CPU the cheap ones first (MobileNetV2,
   ResNet-18 ...). Learning rates and batch sizes start from Azure's per-model defaults.
2. **Sized to the data.** Epochs: 30 below 250 training images, 20 below 1,000, 15 below
   10,000, else 10 (CPU: at most 10). Batch sizes: Azure's defaults fit 12 GiB; they scale
   with the GPU's memory (x0.5 to x2), are capped on CPU and never exceed the training
   images. Detectors use a larger input when the objects are small (median box under 1 %
   of the image) and a smaller one on CPU. Classifiers follow the data-aware rules of
   automode_rules.py: crop at the images' native scale (no 224 px crop of 32 px images
   trained from scratch), milder augmentation for small images and short schedules,
   epochs that fit each trial's share of `timeout_minutes`, the learning rate by whether
   the weights are pretrained.
3. **Then TPE around the best.** The portfolio takes about half of `max_trials` (at least
   2, at most its length); the rest is Bayesian sampling (TPE, multivariate, grouped) over
   one sub-space per portfolio model: the learning rate log-uniform within 4x of the
   portfolio value and, for classifiers, the augmentation (minimum crop area, colour
   jitter, flip); the rest fixed. The portfolio trials are TPE's first observations,
   so it models from the first trial after them and gravitates to the best one.

Values the user fixed in `training_parameters` always win: they are removed from the
portfolio and the search space (a fixed `model_name` turns the portfolio into learning-rate
variants of that model). The plan is written to `automode_plan.json` before any trial runs,
and each choice with the reason for it to `automode.md`, as lines of a job file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from automl import schemas
from automl.engine.sweep import automode_rules as rules
from automl.engine.sweep.automode_notes import choices_markdown
from automl.engine.sweep.automode_profile import (  # noqa: F401 (the policy's inputs, here too)
    DataProfile,
    HardwareProfile,
    profile_data,
    profile_hardware,
)
from automl.engine.sweep.automode_rules import Choice
from automl.engine.sweep.space import SUBSPACE_PARAM, SearchSpace, Uniform
from automl.engine.sweep.space import Choice as ChoiceDistribution
from automl.engine.tasks import get_task
from automl.engine.utils.hf_hub import automode_hub_candidates
from automl.engine.utils.registry import Registry

LR_SPREAD = rules.LR_SPREAD  # TPE's learning-rate range: portfolio value / 4 .. x 4
SMALL_OBJECT_AREA = 0.01

CLASSIFICATION_GPU = [
    ("vitb16r224", 0.0125, 48),
    ("seresnext", 0.01, 78),
    ("resnet50", 0.01, 78),
    ("vits16r224", 0.0125, 128),
    ("resnest50", 0.01, 78),
    ("mobilenetv2", 0.01, 78),
    ("resnet18", 0.01, 78),
]
CLASSIFICATION_CPU = [
    ("mobilenetv2", 0.01, 16),
    ("resnet18", 0.01, 16),
    ("resnet34", 0.01, 16),
    ("resnet50", 0.01, 16),
    ("vits16r224", 0.0125, 16),
]
# From scratch on a CPU the plain residual networks go first: MobileNetV2's depthwise layers
# and batch statistics need many epochs before its validation accuracy leaves chance (10 %
# after 2 epochs of 32 px shapes where ResNet-18 had 39 % after one: bench/quality.py).
CLASSIFICATION_CPU_SCRATCH = [
    ("resnet18", 0.01, 16),
    ("resnet34", 0.01, 16),
    ("mobilenetv2", 0.01, 16),
    ("resnet50", 0.01, 16),
]
MULTILABEL_LR_FACTOR = 2.5  # Azure's multi-label defaults are ~2.5x the multi-class ones
DETECTION_GPU = [
    ("yolov8", 0.01, 16, {"image_size": 640, "model_size": "medium"}),
    ("fasterrcnn_resnet50_fpn", 0.005, 2, {"min_size": 600, "max_size": 1333}),
    ("yolo11", 0.01, 16, {"image_size": 640, "model_size": "medium"}),
    ("retinanet_resnet50_fpn", 0.005, 2, {"min_size": 600, "max_size": 1333}),
    ("yolov5", 0.01, 16, {"image_size": 640, "model_size": "medium"}),
    ("fasterrcnn_resnet34_fpn", 0.005, 2, {"min_size": 600, "max_size": 1333}),
]
DETECTION_CPU = [
    ("fasterrcnn_resnet18_fpn", 0.005, 2, {"min_size": 320, "max_size": 533}),
    ("yolov8", 0.01, 8, {"image_size": 320, "model_size": "small"}),
    ("fasterrcnn_resnet34_fpn", 0.005, 2, {"min_size": 320, "max_size": 533}),
]
SEGMENTATION_GPU = [
    ("maskrcnn_resnet50_fpn", 0.005, 2, {"min_size": 600, "max_size": 1333}),
    ("yolov8-seg", 0.01, 16, {"image_size": 640, "model_size": "medium"}),
    ("maskrcnn_resnet34_fpn", 0.005, 2, {"min_size": 600, "max_size": 1333}),
    ("yolo11-seg", 0.01, 16, {"image_size": 640, "model_size": "medium"}),
    ("maskrcnn_resnet101_fpn", 0.005, 2, {"min_size": 600, "max_size": 1333}),
]
SEGMENTATION_CPU = [
    ("maskrcnn_resnet18_fpn", 0.005, 2, {"min_size": 320, "max_size": 533}),
    ("yolov8-seg", 0.01, 8, {"image_size": 320, "model_size": "small"}),
]


@dataclass(frozen=True)
class Portfolio:
    """The proven configurations of one task kind, best first, on a GPU and on a CPU
    (model, learning rate, batch size, extra parameters; on a CPU without pretrained
    weights `cpu_from_scratch` when given), and how a configuration is sized to the data
    (`sizes(model, extra, data, hardware) -> parameters`); `choices`, when given, makes the
    data-aware choices of a configuration instead (see `_sized`)."""

    gpu: tuple[tuple, ...]
    cpu: tuple[tuple, ...]
    sizes: Callable[[str, dict, DataProfile, HardwareProfile], dict]
    choices: Callable[..., list[Choice]] | None = None
    cpu_from_scratch: tuple[tuple, ...] | None = None  # the CPU order without pretrained weights


# AutoMode's portfolio per task kind (the task descriptor's `kind`); a new task kind
# registers its own with PORTFOLIOS.add(kind, Portfolio(...)).
PORTFOLIOS: Registry[Portfolio] = Registry("AutoMode portfolio (task kind)")


@dataclass(frozen=True)
class AutoModeOptions:
    """What the job says beyond its data: whether trials start from pretrained weights,
    each exploring trial's share of `timeout_minutes` in seconds (None: no budget to fit),
    and the whole budget (the first trial's when it is too tight to explore)."""

    pretrained: bool = True
    trial_budget_s: float | None = None
    job_budget_s: float | None = None  # the whole timeout, seconds (None: none)
    fill_budget: bool = False  # this trial is the only one: its epochs fill trial_budget_s


@dataclass
class AutoModePlan:
    """The portfolio (run first, in order) and the TPE space that follows it."""

    portfolio: list[dict]
    search_space: SearchSpace
    n_portfolio: int
    data: DataProfile
    hardware: HardwareProfile
    raw_search_space: list[dict] = field(default_factory=list)
    choices: list[list[Choice]] = field(default_factory=list)  # per portfolio entry
    options: AutoModeOptions = field(default_factory=AutoModeOptions)
    explore_share: float = rules.EXPLORE_SHARE  # of a timed budget (automode_rules)
    explore_why: str = ""

    def to_json(self, max_trials: int) -> dict:
        """The record written to automode_plan.json (and sent in the "plan" event)."""
        return {
            "policy": "portfolio ordered by expected value, then TPE around the best",
            "data": asdict(self.data),
            "hardware": asdict(self.hardware),
            "options": asdict(self.options),
            "explore": {"share": round(self.explore_share, 3), "why": self.explore_why},
            "portfolio": self.portfolio,
            "choices": [[asdict(choice) for choice in entry] for entry in self.choices],
            "then": {
                "sampling_algorithm": "bayesian",
                "n_trials": max(0, max_trials - self.n_portfolio),
                "search_space": self.raw_search_space,
            },
        }

    def to_markdown(self, max_trials: int) -> str:
        """automode.md: every choice with its reason, as lines of a job file."""
        return choices_markdown(self.portfolio, self.choices, self.to_json(max_trials))

    def enqueue_params(self, index: int) -> dict:
        """Optuna's fixed parameters of portfolio entry `index` (for study.enqueue_trial)."""
        config = self.portfolio[index]
        params = {SUBSPACE_PARAM: index} if len(self.search_space.subspaces) > 1 else {}
        for key, distribution in self.search_space.subspaces[index].items():
            name = self.search_space.param_name(index, key)
            if isinstance(distribution, Uniform):
                params[name] = config[key]
            elif isinstance(distribution, ChoiceDistribution):
                stored = distribution.optuna_value(distribution.values.index(config[key]))
                if stored is not None:
                    params[name] = stored
        return params


def plan_automode(
    task: str,
    data: DataProfile,
    hardware: HardwareProfile,
    max_trials: int,
    fixed_params: dict,
    default_learning_rate: Callable[[str], float | None] | None = None,
    options: AutoModeOptions | None = None,
) -> AutoModePlan:
    """The AutoMode plan for a job (see the module docstring for the policy)."""
    options = options or AutoModeOptions()
    candidates = _candidates(
        task, hardware, fixed_params, default_learning_rate, options.pretrained
    )
    n_portfolio = portfolio_size(len(candidates), max_trials)
    share, why = _explore_share(task, candidates[0], data, hardware, fixed_params, options)
    choices = []
    for index, candidate in enumerate(candidates[:n_portfolio]):
        sized_options = options
        if index == 0 and share == 0.0:  # too tight to explore: the first gets the budget
            sized_options = replace(options, trial_budget_s=options.job_budget_s, fill_budget=True)
        choices.append(_sized(task, candidate, data, hardware, fixed_params, sized_options))
    portfolio = [_config(entry) for entry in choices]
    raw = [_tpe_subspace(entry) for entry in choices]
    space = SearchSpace.from_config(raw)
    plan = AutoModePlan(portfolio, space, n_portfolio, data, hardware, raw, choices, options)
    plan.explore_share, plan.explore_why = share, why
    return plan


def _explore_share(task, candidate, data, hardware, fixed, options) -> tuple[float, str]:
    """automode_rules.explore_share for the first configuration (classifiers: their epoch
    cost is estimated; other kinds always explore a third of a timed budget)."""
    if options.job_budget_s is None or portfolio_of(task).choices is None:
        return rules.explore_share(None, 1.0, 1)
    unbounded = replace(options, trial_budget_s=None)
    first = _config(_sized(task, candidate, data, hardware, fixed, unbounded))
    crop = first.get("training_crop_size") or fixed.get("training_crop_size") or rules.GPU_MAX_CROP
    epoch_s = rules.epoch_seconds(
        first["model_name"], crop, data.n_train, hardware.device == "cuda", hardware.n_cpus
    )
    epochs = fixed.get("number_of_epochs") or first.get("number_of_epochs") or 1
    return rules.explore_share(options.job_budget_s, epoch_s, int(epochs))


def portfolio_size(n_candidates: int, max_trials: int) -> int:
    """About half of max_trials (at least 2, at most the portfolio's length)."""
    return min(n_candidates, max(2, (max_trials + 1) // 2), max_trials)


def portfolio_models(task: str, on_gpu: bool, max_trials: int, fixed_params: dict) -> list[dict]:
    """The model (and YOLO model_size) of each portfolio trial, known before the data is read:
    what a job's pretrained weights check needs. Fixed values win, as in the plan."""
    hardware = HardwareProfile(device="cuda" if on_gpu else "cpu")
    candidates = _candidates(task, hardware, fixed_params, None)
    models = []
    for candidate in candidates[: portfolio_size(len(candidates), max_trials)]:
        extra = {
            k: v for k, v in candidate[3].items() if k == "model_size" and k not in fixed_params
        }
        models.append({"model_name": candidate[0], **extra})
    return models


def _candidates(
    task, hardware, fixed_params, default_learning_rate, pretrained: bool = True
) -> list[tuple]:
    table = _portfolio_table(task, hardware.device == "cuda", pretrained)
    if get_task(task).multilabel:
        table = [(m, lr * MULTILABEL_LR_FACTOR, b, *rest) for m, lr, b, *rest in table]
    model = fixed_params.get("model_name")
    if model is None:
        return table
    # A fixed model: learning-rate variants of it, starting from its own default.
    known = {row[0]: row for row in table}
    base = known.get(model) or (model, 0.01, 16, {})
    lr = (default_learning_rate(model) if default_learning_rate else None) or base[1]
    return [(model, lr * factor, *base[2:]) for factor in (1.0, 0.3, 3.0)]


def portfolio_of(task: str) -> Portfolio:
    """The portfolio of `task`'s kind."""
    return PORTFOLIOS.get(get_task(task).kind)


def _portfolio_table(task: str, on_gpu: bool, pretrained: bool = True) -> list[tuple]:
    """The task kind's rows, then the curated Transformers classifiers whose weights are
    cached or that a GPU trains in time (engine/utils/hf_hub.py automode_may_use)."""
    portfolio = portfolio_of(task)
    rows = portfolio.gpu if on_gpu else portfolio.cpu
    if not (on_gpu or pretrained) and portfolio.cpu_from_scratch is not None:
        rows = portfolio.cpu_from_scratch
    return list(rows) + automode_hub_candidates(task, on_gpu)


def _sized(task, candidate, data, hardware, fixed: dict, options: AutoModeOptions) -> list[Choice]:
    """The choices of one portfolio entry, the user's fixed keys left out (model_name kept)."""
    model, lr, batch, extra = candidate[0], candidate[1], candidate[2], dict(candidate[3])
    portfolio = portfolio_of(task)
    if portfolio.choices is not None:
        made = portfolio.choices(model, lr, batch, data, hardware, options, fixed)
    else:
        made = _portfolio_choices(model, lr, batch, data, hardware)
        made += [
            Choice(k, v, "sized to the data")
            for k, v in portfolio.sizes(model, extra, data, hardware).items()
        ]
    model_choice = Choice(
        "model_name", model, "portfolio, cheap-to-strong on CPU, strong first on GPU"
    )
    return [model_choice] + [c for c in made if c.key not in fixed and c.key != "model_name"]


def _portfolio_choices(
    model, lr, batch, data: DataProfile, hardware: HardwareProfile
) -> list[Choice]:
    epochs = sized_epochs(data.n_train, hardware.device)
    return [
        Choice(
            "learning_rate",
            round(lr, 6),
            "the portfolio's rate (Azure's default for the model)",
            rules.learning_rate_search(round(lr, 6)),
        ),
        Choice("number_of_epochs", epochs, f"{epochs} epochs for {data.n_train} images"),
        Choice(
            "training_batch_size",
            sized_batch(batch, data.n_train, hardware),
            "Azure's default, sized to the memory",
        ),
    ]


def _classification_choices(model, lr, batch, data, hardware, options, fixed) -> list[Choice]:
    """The data-aware rules of automode_rules.py for one classifier of the portfolio."""
    made = [
        rules.learning_rate(lr, options.pretrained),
        rules.weight_decay(_classification_default("weight_decay"), options.pretrained),
    ]
    crop_choices, crop = _crop_choices(model, data, options, hardware, fixed)
    made += crop_choices
    if hardware.device == "cuda":
        why = "Azure's default, scaled by GPU memory"
        made.append(Choice("training_batch_size", sized_batch(batch, data.n_train, hardware), why))
    else:
        made.append(rules.cpu_batch(batch, crop, data.n_train))
    epoch_s = rules.epoch_seconds(
        model, crop, data.n_train, hardware.device == "cuda", hardware.n_cpus
    )
    data_epochs = sized_epochs(data.n_train, hardware.device, options.job_budget_s is not None)
    epochs = rules.epochs_for_budget(
        data_epochs, options.trial_budget_s, epoch_s, fill=options.fill_budget
    )
    n_epochs = fixed.get("number_of_epochs", epochs.value)
    made += [
        epochs,
        rules.warmup_epochs(n_epochs, _classification_default("warmup_cosine_lr_warmup_epochs")),
    ]
    if options.fill_budget:
        made.append(rules.fill_early_stopping())
    made += [
        rules.min_crop_area(data.side, n_epochs),
        rules.color_jitter(),
        rules.horizontal_flip(),
    ]
    made.append(
        rules.data_workers(data.n_train, data.side, _classification_default("number_of_workers"))
    )
    return made


def _crop_choices(model, data, options, hardware, fixed) -> tuple[list[Choice], int]:
    """Training and validation crops (a fixed training crop sizes validation too), and the
    crop the epoch's cost is estimated at. The r224 ViTs take 224 px only: no choice. (A
    tight budget keeps the native crop: on flowers5, 112 px for 14 epochs beat 64 px for
    ~40, 0.56 to 0.46, bench/quality.py.)"""
    if (schemas.model_family(model) or {}).get("crop_sizes_must_match"):
        return [], rules.GPU_MAX_CROP
    side = data.side
    choice = rules.crop_size(side, options.pretrained, hardware.device == "cuda")
    crop = fixed.get("training_crop_size", choice.value)
    validation = Choice("validation_crop_size", crop, "the training crop")
    return [choice, validation, rules.validation_resize(crop, side)], crop


def _classification_default(key: str):
    return schemas.task_default("image_classification", key)  # the same for multi-label


def _config(choices: list[Choice]) -> dict:
    return {choice.key: choice.value for choice in choices}


def sized_epochs(n_train: int, device: str, budgeted: bool = False) -> int:
    """Fewer epochs for more data (each epoch then has more steps); on a CPU at most 10,
    unless the job's own timeout bounds the time (`budgeted`: the budget rules fit them)."""
    epochs = 30 if n_train < 250 else 20 if n_train < 1000 else 15 if n_train < 10000 else 10
    return min(epochs, 10) if device == "cpu" and not budgeted else epochs


def sized_batch(default: int, n_train: int, hardware: HardwareProfile) -> int:
    """Azure's defaults fit 12 GiB: scale by GPU memory (x0.5..x2), cap on CPU and by data."""
    if hardware.device == "cuda" and hardware.gpu_memory_gb:
        scale = min(2.0, max(0.5, hardware.gpu_memory_gb / 12.0))
        batch = max(1, int(default * scale))
    else:
        batch = min(default, 16)
    return max(1, min(batch, n_train))


def _detection_sizes(model: str, extra: dict, data: DataProfile, hardware: HardwareProfile) -> dict:
    small = data.median_box_area is not None and data.median_box_area < SMALL_OBJECT_AREA
    if not small:
        return extra
    if "image_size" in extra:
        return {**extra, "image_size": int(extra["image_size"] * 1.6) // 32 * 32}
    if "min_size" in extra:
        return {**extra, "min_size": int(extra["min_size"] * 4 / 3)}
    return extra  # a Transformers detector sizes its inputs with its own image processor


def _tpe_subspace(choices: list[Choice]) -> dict:
    """Each choice's searched range, or the value itself when it is fixed."""
    return {c.key: c.search or {"type": "choice", "values": [c.value]} for c in choices}


PORTFOLIOS.add(
    "classification",
    Portfolio(
        gpu=tuple((m, lr, b, {}) for m, lr, b in CLASSIFICATION_GPU),
        cpu=tuple((m, lr, b, {}) for m, lr, b in CLASSIFICATION_CPU),
        sizes=lambda model, extra, data, hardware: {},
        choices=_classification_choices,
        cpu_from_scratch=tuple((m, lr, b, {}) for m, lr, b in CLASSIFICATION_CPU_SCRATCH),
    ),
)
PORTFOLIOS.add("detection", Portfolio(tuple(DETECTION_GPU), tuple(DETECTION_CPU), _detection_sizes))
PORTFOLIOS.add(
    "segmentation", Portfolio(tuple(SEGMENTATION_GPU), tuple(SEGMENTATION_CPU), _detection_sizes)
)
