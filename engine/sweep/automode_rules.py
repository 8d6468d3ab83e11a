"""AutoMode's data-aware rules: pure functions from what the data and the budget say to the
first trial's values and the ranges TPE searches after it. Each returns `Choice`s (key,
value, the search range or None, and why in one line) so the plan can show a user why.

The rules (tests/sweep/test_automode_rules.py has one test per rule):

- **crop**: trained from scratch, a model learns at the images' own scale, so the crop is the
  native side (median shorter side, rounded to 16, at least 32): 32 px images never get a
  224 px crop. With pretrained weights a moderate upscale (at most 2x, towards 224) lets
  ImageNet features see objects near the scale they were learnt at. Never above 224 (GPU)
  or 128 (CPU). Validation resizes to Azure's 256/224 of the crop only when the images are
  larger than that; smaller images are resized to the crop, so it keeps the whole image.
- **minimum crop area** (random resized crop): Azure's 8 % suits 224 px photos and long
  schedules; tiny images (64 px or less) start at 80 %, short schedules (under 15 epochs)
  at 35 %, else 8 %; TPE searches from a third of the start (at least 8 %) to 100 %.
- **colour jitter**: starts mild (0.1: Azure's 0.4 turns hue by up to 0.4 of a circle, and
  colour is often what tells classes apart); TPE searches 0 to 0.4.
- **horizontal flip**: starts on (it loses no pixels); TPE also tries it off (mirror images
  of text or arrows are another class, which the data cannot tell).
- **epochs**: the data-size rule (automode.sized_epochs), capped so that a portfolio trial
  fits its share of the exploring third of `timeout_minutes` by an estimate of the epoch's
  cost (model FLOPs at the crop, the device's throughput); the best one then trains on for
  the rest (fidelity.py); warm-up at most a fifth of the epochs (Azure: 2).
- **learning rate**: Azure's per-model default when fine-tuning pretrained weights; from
  scratch 5x that (no features to preserve: 0.05 at Azure's 0.01, the usual from-scratch
  ResNet rate of 0.1 at batch 128 scaled to the CPU's batch of 64); TPE searches 4x either
  side.
- **weight decay**: Azure's 1e-4 when fine-tuning; from scratch 5e-4, the usual value for
  residual networks trained from scratch on small images (more regularisation where the
  weights carry no prior).
- **batch (CPU)**: the pixels per batch of 16 images at 128 px: smaller crops take larger
  batches (fewer steps, at most 64), never more than a quarter of the training images.
- **exploring**: a timed job explores (portfolio, then TPE) for a third of its budget, the
  best configuration trains on for the rest (fidelity.py); when the budget holds fewer than
  two full schedules of the first configuration, that one gets all of it: no search.
- **data workers**: a small data set of small images (under 16 M pixels in all, e.g. 4,000
  images of 64 px) is decoded in the trial's own process (0 workers): starting worker
  processes costs more than decoding it; larger ones keep Azure's default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CPU_MAX_CROP, GPU_MAX_CROP = 128, 224
PRETRAINED_UPSCALE = 2.0  # at most this upscale of the native side with pretrained weights
VALID_RESIZE_RATIO = 256 / 224  # Azure's validation resize / crop
TINY_IMAGE_SIDE = 64
SHORT_SCHEDULE_EPOCHS = 15
FROM_SCRATCH_LR_FACTOR = 5.0
FROM_SCRATCH_WEIGHT_DECAY = 5e-4
LR_SPREAD = 4.0
MAX_JITTER = 0.4  # Azure's value: the top of the searched range
CPU_BATCH_PIXELS = 16 * 128 * 128
CPU_MAX_BATCH = 64
# Forward GFLOPs at 224 px (torchvision's model documentation); a training step costs about
# 3x the forward pass. Unknown models count as resnet50.
GFLOPS_224 = {
    "mobilenetv2": 0.30,
    "resnet18": 1.81,
    "resnet34": 3.66,
    "resnet50": 4.09,
    "resnet101": 7.80,
    "resnet152": 11.51,
    "resnest50": 5.40,
    "resnest101": 10.2,
    "seresnext": 4.30,
    "vits16r224": 4.60,
    "vitb16r224": 17.6,
    "vitl16r224": 61.6,
    "test_tiny_cnn": 0.01,
}
# Measured on one x86 core (torch 2, fp32, batch 32): resnet18 at 32 px 11 ms an image,
# mobilenetv2 8 ms; FLOPs alone explain resnet18 at ~10 GFLOP/s, and a fixed ~6 ms an image
# (decoding, augmentation, per-layer overhead at small sizes) covers the rest.
CPU_GFLOPS_PER_CORE = 10.0
GPU_GFLOPS = 10000.0
CPU_IMAGE_OVERHEAD_S = 0.006
SMALL_DATA_PIXELS = 16_000_000
BUDGET_SHARE = 0.8  # of a trial's share of the budget, kept for start-up and validation
EXPLORE_SHARE = 1 / 3  # of a timed job's budget for short trials; the rest trains the best on
TIGHT_BUDGET_SCHEDULES = 2  # a budget holding fewer full schedules of the first trial: no search
MAX_EPOCH_FACTOR = 3  # a trial filling a budget trains at most 3x the data-size rule's epochs
FILL_OVERPLAN = 1.5  # a trial filling a budget plans this much more than estimated, then fits


@dataclass(frozen=True)
class Choice:
    """One AutoMode decision: the first trial's value, the range searched after it (an
    Azure distribution, or None when fixed) and why, in one line."""

    key: str
    value: Any
    why: str
    search: dict | None = None


def crop_size(side: int | None, pretrained: bool, on_gpu: bool) -> Choice:
    """The training crop: native scale from scratch, at most 2x upscale when pretrained."""
    cap = GPU_MAX_CROP if on_gpu else CPU_MAX_CROP
    if side is None:
        return Choice("training_crop_size", cap, f"image sizes unknown: the device's cap {cap}")
    if pretrained:
        crop = _clamp(_round_to(min(side * PRETRAINED_UPSCALE, GPU_MAX_CROP), 32), 64, cap)
        why = f"images are {side} px; pretrained weights: up to 2x upscale, at most {cap}"
    else:
        crop = _clamp(_round_to(side, 16), 32, cap)
        why = f"images are {side} px; from scratch: native scale, no upscaling, at most {cap}"
    return Choice("training_crop_size", crop, why)


def validation_resize(crop: int, side: int | None) -> Choice:
    """Azure's 256/224 resize for images larger than that; else resize to the crop."""
    azure = int(crop * VALID_RESIZE_RATIO)
    if side is None or side >= azure:
        return Choice("validation_resize_size", azure, "Azure's ratio 256/224 of the crop")
    why = f"images ({side} px) are smaller than {azure}: resize to the crop, keep the whole image"
    return Choice("validation_resize_size", crop, why)


def min_crop_area(side: int | None, epochs: int) -> Choice:
    """Random-resized-crop minimum area: mild for tiny images and short schedules."""
    if side is not None and side <= TINY_IMAGE_SIDE:
        start, why = 0.8, f"tiny images ({side} px): a small crop throws most of one away"
    elif epochs < SHORT_SCHEDULE_EPOCHS:
        start, why = 0.35, f"short schedule ({epochs} epochs): little time to learn invariances"
    else:
        start, why = 0.08, "long schedule on larger images: Azure's 8 %"
    low = round(max(0.08, start / 3), 3)
    search = {"type": "uniform", "min_value": low, "max_value": 1.0}
    return Choice("augmentation_min_crop_area", start, why, search)


def color_jitter() -> Choice:
    """Colour jitter starts mild; TPE searches up to Azure's strength."""
    why = "mild: Azure's 0.4 turns hue by up to 0.4 of a circle, and colour often is the class"
    search = {"type": "uniform", "min_value": 0.0, "max_value": MAX_JITTER}
    return Choice("augmentation_color_jitter", 0.1, why, search)


def horizontal_flip() -> Choice:
    """Flip on first (it loses no pixels); TPE tries it off too."""
    why = "a flip loses no pixels; off is tried too (mirrored text or arrows change class)"
    return Choice("augmentation_hflip", True, why, {"type": "choice", "values": [True, False]})


def learning_rate(default: float, pretrained: bool) -> Choice:
    """Azure's default when fine-tuning; 5x from scratch; searched 4x either side."""
    if pretrained:
        value, why = default, f"Azure's default for the model ({default}), fine-tuning"
    else:
        value = default * FROM_SCRATCH_LR_FACTOR
        why = f"from scratch: {FROM_SCRATCH_LR_FACTOR}x Azure's fine-tuning default {default}"
    value = round(value, 6)
    return Choice("learning_rate", value, why, learning_rate_search(value))


def weight_decay(default: float, pretrained: bool) -> Choice:
    """Azure's default when fine-tuning; 5e-4 from scratch."""
    if pretrained:
        return Choice("weight_decay", default, f"Azure's default ({default}), fine-tuning")
    why = f"from scratch: {FROM_SCRATCH_WEIGHT_DECAY}, the usual value without pretrained weights"
    return Choice("weight_decay", FROM_SCRATCH_WEIGHT_DECAY, why)


def learning_rate_search(value: float) -> dict:
    """TPE's learning-rate range: log-uniform, 4x either side of `value`."""
    return {
        "type": "loguniform",
        "min_value": math.log(value / LR_SPREAD),
        "max_value": math.log(value * LR_SPREAD),
    }


def cpu_batch(default: int, crop: int, n_train: int) -> Choice:
    """On CPU: the pixels of 16 images at 128 px per batch, at most 64 and n_train / 4."""
    batch = _clamp(int(default * CPU_BATCH_PIXELS / (16 * crop * crop)), 1, CPU_MAX_BATCH)
    batch = max(1, min(batch, n_train // 4 or 1))
    why = f"CPU: the pixels of 16 images at 128 px at crop {crop}, at most 64 and n_train/4"
    return Choice("training_batch_size", batch, why)


def epoch_seconds(model: str, crop: int, n_train: int, on_gpu: bool, n_cpus: int) -> float:
    """Estimated seconds of one training epoch (FLOPs at the crop over the throughput)."""
    flops = 3e9 * GFLOPS_224.get(model, GFLOPS_224["resnet50"]) * (crop / 224) ** 2
    if on_gpu:
        return n_train * flops / (GPU_GFLOPS * 1e9)
    cores = max(1, n_cpus)
    return n_train * (flops / (CPU_GFLOPS_PER_CORE * 1e9) + CPU_IMAGE_OVERHEAD_S) / cores


def epochs_for_budget(
    data_epochs: int, trial_budget_s: float | None, epoch_s: float, fill: bool = False
) -> Choice:
    """The data-size rule's epochs, capped to what fits the trial's share of the budget;
    `fill` (the one trial of a budget too tight to explore): all the epochs that fit, up to
    MAX_EPOCH_FACTOR x the data-size rule's."""
    why = f"{data_epochs} epochs for this many images"
    if trial_budget_s is None:
        return Choice("number_of_epochs", data_epochs, why + "; no timeout to fit")
    fits = max(1, int(trial_budget_s * BUDGET_SHARE / max(epoch_s, 1e-6)))
    if fill:  # planned long: the trial ends its schedule by the budget's end (finish_by)
        whole = trial_budget_s / max(epoch_s, 1e-6)
        epochs = max(1, min(int(FILL_OVERPLAN * whole), MAX_EPOCH_FACTOR * data_epochs))
        why = f"the whole budget ({trial_budget_s:.0f} s) holds ~{whole:.0f} epochs (~{epoch_s:.1f}"
        why += f" s each, estimated): {epochs} planned, at most {MAX_EPOCH_FACTOR}x the "
        why += f"{data_epochs} for this many images; the trial ends its schedule at the "
        why += "budget's end by its measured pace"
        return Choice("number_of_epochs", epochs, why)
    if fits >= data_epochs:
        return Choice("number_of_epochs", data_epochs, why + f"; fits {trial_budget_s:.0f} s")
    why = f"{fits} of {data_epochs} epochs fit the trial's {trial_budget_s:.0f} s"
    why += f" (an epoch: ~{epoch_s:.1f} s)"
    return Choice("number_of_epochs", fits, why)


def fill_early_stopping() -> Choice:
    """The one trial of a budget too tight to explore runs its whole schedule: it ends with
    the budget, and a patience of a few epochs would hand the rest to nothing better."""
    why = "the one trial fills the budget: its schedule ends with it, annealed"
    return Choice("early_stopping", False, why)


def warmup_epochs(epochs: int, azure_default: int) -> Choice:
    """Warm-up takes at most a fifth of a short schedule."""
    value = min(azure_default, epochs // 5)
    why = f"Azure's {azure_default}, at most a fifth of {epochs} epochs"
    return Choice("warmup_cosine_lr_warmup_epochs", value, why)


def trial_budget_s(
    timeout_minutes: float | None, n_explore: int, max_concurrent: int
) -> float | None:
    """An exploring trial's share of the job's budget: the `n_explore` portfolio trials share
    EXPLORE_SHARE of it, max_concurrent at a time (the rest is the best one's: fidelity.py)."""
    if not timeout_minutes:
        return None
    waves = math.ceil(max(1, n_explore) / max(1, max_concurrent))
    return timeout_minutes * 60.0 * EXPLORE_SHARE / waves


def explore_share(
    job_budget_s: float | None, epoch_s: float, data_epochs: int
) -> tuple[float, str]:
    """The share of a timed job's budget spent exploring, and why: none when the budget holds
    fewer than TIGHT_BUDGET_SCHEDULES full schedules of the first configuration (every
    epoch is then worth more on one model than on a comparison), else EXPLORE_SHARE."""
    if job_budget_s is None:
        return EXPLORE_SHARE, "no timeout: the portfolio and the search run in full"
    fits = job_budget_s * BUDGET_SHARE / max(epoch_s, 1e-6)
    if fits < TIGHT_BUDGET_SCHEDULES * data_epochs:
        why = (
            f"the budget holds ~{fits:.0f} epochs of the first configuration (~{epoch_s:.1f} s "
            f"each), under {TIGHT_BUDGET_SCHEDULES}x its {data_epochs}: it gets all of it, "
            "no search"
        )
        return 0.0, why
    why = (
        f"the budget holds ~{fits:.0f} epochs of the first configuration: "
        f"{EXPLORE_SHARE:.0%} of it explores, the rest trains the best on"
    )
    return EXPLORE_SHARE, why


def data_workers(n_train: int, side: int | None, default: int) -> Choice:
    """0 workers for a small set of small images, else Azure's default."""
    if side is not None and n_train * side * side < SMALL_DATA_PIXELS:
        why = f"{n_train} images of {side} px decode faster in the trial than workers start"
        return Choice("number_of_workers", 0, why)
    return Choice("number_of_workers", default, "Azure's default")


def _round_to(value: float, step: int) -> int:
    return int(step * round(value / step))


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
