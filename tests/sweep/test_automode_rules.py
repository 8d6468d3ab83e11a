"""AutoMode's data-aware rules (automode_rules.py): one test per rule, then the plan that
uses them (first trials, TPE space, automode.md)."""

from __future__ import annotations

import json
import math

import optuna
import pytest
import yaml
from sweep_stubs import StubJob

from automl.engine.sweep import automode_rules as rules
from automl.engine.sweep.automode import (
    AutoModeOptions,
    DataProfile,
    HardwareProfile,
    plan_automode,
)

CPU = HardwareProfile("cpu", n_cpus=2)
GPU = HardwareProfile("cuda", n_gpus=1, gpu_memory_gb=24.0, n_cpus=16)
TINY = DataProfile(n_train=1400, median_width=32, median_height=32, n_classes=10)
SCRATCH = AutoModeOptions(pretrained=False)


def test_crop_from_scratch_is_the_native_scale_never_224_for_32_px():
    for on_gpu in (False, True):
        assert rules.crop_size(32, pretrained=False, on_gpu=on_gpu).value == 32
    assert rules.crop_size(100, pretrained=False, on_gpu=False).value == 96
    assert rules.crop_size(500, pretrained=False, on_gpu=False).value == 128  # CPU cap
    assert rules.crop_size(500, pretrained=False, on_gpu=True).value == 224  # GPU cap


def test_crop_with_pretrained_weights_upscales_at_most_twice():
    assert rules.crop_size(32, pretrained=True, on_gpu=True).value == 64
    assert rules.crop_size(80, pretrained=True, on_gpu=True).value == 160
    assert rules.crop_size(160, pretrained=True, on_gpu=True).value == 224
    assert rules.crop_size(160, pretrained=True, on_gpu=False).value == 128
    assert rules.crop_size(None, pretrained=True, on_gpu=True).value == 224


def test_validation_resize_keeps_small_images_whole():
    assert rules.validation_resize(32, 32).value == 32
    assert rules.validation_resize(224, 500).value == 256  # Azure's ratio
    assert rules.validation_resize(128, None).value == 146


def test_min_crop_area_is_mild_for_tiny_images_and_short_schedules():
    tiny, short, long = (
        rules.min_crop_area(32, 30),
        rules.min_crop_area(160, 5),
        rules.min_crop_area(224, 30),
    )
    assert (tiny.value, short.value, long.value) == (0.8, 0.35, 0.08)
    for choice in (tiny, short, long):
        assert choice.search["type"] == "uniform" and choice.search["max_value"] == 1.0
        assert 0.08 <= choice.search["min_value"] <= choice.value


def test_color_jitter_starts_mild_and_searches_up_to_azures():
    choice = rules.color_jitter()
    assert choice.value < 0.4 and choice.search == {
        "type": "uniform",
        "min_value": 0.0,
        "max_value": 0.4,
    }


def test_flip_starts_on_and_is_searched_off_too():
    choice = rules.horizontal_flip()
    assert choice.value is True and choice.search["values"] == [True, False]


def test_learning_rate_is_azures_when_pretrained_and_higher_from_scratch():
    tuned, scratch = rules.learning_rate(0.01, True), rules.learning_rate(0.01, False)
    assert tuned.value == 0.01 and scratch.value == pytest.approx(0.05)
    low, high = math.exp(scratch.search["min_value"]), math.exp(scratch.search["max_value"])
    assert (low, high) == (pytest.approx(0.05 / 4), pytest.approx(0.2))


def test_weight_decay_is_azures_when_pretrained_and_higher_from_scratch():
    assert rules.weight_decay(1e-4, True).value == 1e-4
    assert rules.weight_decay(1e-4, False).value == 5e-4


def test_cpu_batch_grows_for_small_crops_within_bounds():
    assert rules.cpu_batch(16, 128, 1000).value == 16
    assert rules.cpu_batch(16, 32, 1000).value == 64  # at most 64
    assert rules.cpu_batch(16, 32, 100).value == 25  # at most a quarter of the images


def test_epochs_fit_the_trials_share_of_the_budget():
    # 4 portfolio trials share the exploring third of 5 minutes: 25 s each, 50 s two at a time
    assert rules.trial_budget_s(5, 4, 1) == pytest.approx(25.0)
    assert rules.trial_budget_s(5, 4, 2) == pytest.approx(50.0)
    assert rules.trial_budget_s(None, 4, 1) is None
    assert rules.epochs_for_budget(10, None, 5.0).value == 10
    assert rules.epochs_for_budget(10, 300.0, 5.0).value == 10
    assert rules.epochs_for_budget(10, 30.0, 5.0).value == 4  # 80 % of 30 s, 5 s an epoch
    assert rules.epochs_for_budget(10, 1.0, 5.0).value == 1  # never zero


def test_epoch_cost_grows_with_model_crop_and_data():
    base = rules.epoch_seconds("resnet18", 64, 1000, on_gpu=False, n_cpus=2)
    assert rules.epoch_seconds("resnet50", 64, 1000, on_gpu=False, n_cpus=2) > base
    assert rules.epoch_seconds("resnet18", 128, 1000, on_gpu=False, n_cpus=2) > base
    assert rules.epoch_seconds("resnet18", 64, 1000, on_gpu=True, n_cpus=2) < base


def test_warmup_takes_at_most_a_fifth_of_the_epochs():
    assert rules.warmup_epochs(3, 2).value == 0
    assert rules.warmup_epochs(10, 2).value == 2


def test_small_data_of_small_images_loads_without_workers():
    assert rules.data_workers(1400, 32, 8).value == 0
    assert rules.data_workers(5000, 224, 8).value == 8
    assert rules.data_workers(100, None, 8).value == 8


# ---- the plan built from the rules ------------------------------------------------------


def test_32_px_from_scratch_plan_never_upscales_to_224():
    for hardware in (CPU, GPU):
        plan = plan_automode("image_classification", TINY, hardware, 10, {}, options=SCRATCH)
        crops = [c.get("training_crop_size") for c in plan.portfolio]
        assert all(crop is None or crop == 32 for crop in crops), crops  # None: r224 ViT
        assert all(c["augmentation_min_crop_area"] == 0.8 for c in plan.portfolio)


def test_budget_caps_the_first_trials_epochs():
    options = AutoModeOptions(pretrained=False, trial_budget_s=2.0)
    plan = plan_automode("image_classification", TINY, CPU, 10, {}, options=options)
    assert plan.portfolio[0]["number_of_epochs"] < 10


def test_augmentation_is_searched_and_the_portfolio_point_is_enqueued_exactly():
    plan = plan_automode("image_classification", TINY, CPU, 6, {}, options=SCRATCH)
    study = optuna.create_study(direction="maximize")
    for index in range(plan.n_portfolio):
        study.enqueue_trial(plan.enqueue_params(index))
    for config in plan.portfolio:
        assert plan.search_space.suggest(study.ask()) == config
    searched = set(plan.raw_search_space[0]) - {
        k
        for k, v in plan.raw_search_space[0].items()
        if v["type"] == "choice" and len(v["values"]) == 1
    }
    assert searched == {
        "learning_rate",
        "augmentation_min_crop_area",
        "augmentation_color_jitter",
        "augmentation_hflip",
    }


def test_fixed_augmentation_keys_are_left_alone():
    fixed = {"augmentation_hflip": False, "training_crop_size": 48}
    plan = plan_automode("image_classification", TINY, CPU, 4, fixed, options=SCRATCH)
    for config, space in zip(plan.portfolio, plan.raw_search_space, strict=True):
        assert "augmentation_hflip" not in config and "augmentation_hflip" not in space
        assert "training_crop_size" not in config
        assert config["validation_crop_size"] == 48  # follows the fixed training crop


def test_markdown_has_a_reason_per_choice_as_job_file_lines():
    plan = plan_automode("image_classification", TINY, CPU, 6, {}, options=SCRATCH)
    text = plan.to_markdown(6)
    blocks = text.split("```yaml\n")[1:]
    first = yaml.safe_load(blocks[0].split("```")[0])
    assert first == plan.portfolio[0]  # the lines are a valid training_parameters block
    lines = blocks[0].split("```")[0].strip().splitlines()
    assert len(lines) == len(plan.portfolio[0]) and all("  # " in line for line in lines)
    space = yaml.safe_load(blocks[-1].split("```")[0])["search_space"]
    assert len(space) == len(plan.raw_search_space)
    assert space[0]["model_name"] == plan.portfolio[0]["model_name"]  # literals for one value
    assert space[0]["augmentation_hflip"] == {"type": "choice", "values": [True, False]}
    assert "32x32 px" in text and "10 classes" in text


def test_the_run_directory_gets_automode_md(run, data, tmp_path):
    job = StubJob(mode="automode", resolved={"limits": {"max_trials": 2}}, name="auto")
    run(job, tmp_path / "run", data)
    text = (tmp_path / "run" / "automode.md").read_text()
    plan = json.loads((tmp_path / "run" / "automode_plan.json").read_text())
    assert f"model_name: {plan['portfolio'][0]['model_name']}  # " in text
    assert plan["choices"][0][0]["key"] == "model_name" and plan["choices"][0][0]["why"]


def test_a_budget_holding_under_two_schedules_is_not_explored():
    share, why = rules.explore_share(180.0, 12.0, 10)  # ~12 epochs fit: under 2 x 10
    assert share == 0.0 and "no search" in why
    share, why = rules.explore_share(3600.0, 12.0, 10)  # ~240 epochs fit
    assert share == rules.EXPLORE_SHARE and "explores" in why
    assert rules.explore_share(None, 12.0, 10)[0] == rules.EXPLORE_SHARE


def test_a_tight_budget_gives_the_first_trial_all_of_it():
    data = DataProfile(n_train=1400, median_width=32, median_height=32)
    cpu = HardwareProfile("cpu", n_cpus=2)
    tight = AutoModeOptions(pretrained=False, trial_budget_s=20.0, job_budget_s=180.0)
    plan = plan_automode("image_classification", data, cpu, 6, {}, options=tight)
    assert plan.explore_share == 0.0 and "no search" in plan.explore_why
    first, second = plan.portfolio[0], plan.portfolio[1]
    assert first["number_of_epochs"] > second["number_of_epochs"]  # 180 s against 20 s
    assert first["early_stopping"] is False and "early_stopping" not in second
    roomy = AutoModeOptions(pretrained=False, trial_budget_s=1200.0, job_budget_s=3600.0)
    plan = plan_automode("image_classification", data, cpu, 6, {}, options=roomy)
    assert plan.explore_share == rules.EXPLORE_SHARE
    assert plan.to_json(6)["explore"]["share"] == round(rules.EXPLORE_SHARE, 3)
