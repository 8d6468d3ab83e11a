"""AutoMode: the documented portfolio policy, sized to data and hardware."""

from __future__ import annotations

import json

import optuna
import pytest

from automl.engine.sweep.automode import (
    AutoModeOptions,
    DataProfile,
    HardwareProfile,
    plan_automode,
    profile_data,
    sized_batch,
    sized_epochs,
)

CPU = HardwareProfile("cpu", n_cpus=2)
GPU_24 = HardwareProfile("cuda", n_gpus=1, gpu_memory_gb=24.0, n_cpus=16)
SMALL = DataProfile(n_train=100, median_width=64, median_height=48)


def test_cpu_portfolio_starts_cheap_and_sizes_to_the_data():
    plan = plan_automode("image_classification", SMALL, CPU, 10, {})
    first = plan.portfolio[0]
    assert first["model_name"] == "mobilenetv2"
    assert first["number_of_epochs"] == 10  # 30 for < 250 images, capped at 10 on CPU
    assert first["training_batch_size"] == 25  # 28 at a 96 px crop, at most n_train / 4
    assert first["training_crop_size"] == 96  # 48 px images, pretrained: 2x upscale
    assert plan.n_portfolio == 5 == len(plan.search_space.subspaces)


def test_cpu_portfolio_from_scratch_starts_with_resnet18():
    options = AutoModeOptions(pretrained=False)
    plan = plan_automode("image_classification", SMALL, CPU, 10, {}, options=options)
    assert [c["model_name"] for c in plan.portfolio[:3]] == ["resnet18", "resnet34", "mobilenetv2"]
    gpu = plan_automode("image_classification", SMALL, GPU_24, 10, {}, options=options)
    assert gpu.portfolio[0]["model_name"] == "vitb16r224"  # the GPU order is the same


def test_gpu_portfolio_starts_strong_and_scales_batches():
    data = DataProfile(n_train=5000, median_width=640, median_height=480)
    plan = plan_automode("image_classification", data, GPU_24, 10, {})
    assert plan.portfolio[0]["model_name"] == "vitb16r224"
    assert plan.portfolio[0]["training_batch_size"] == 96  # 48 fits 12 GiB -> x2
    assert plan.portfolio[1]["training_crop_size"] == 224
    assert sized_epochs(5000, "cuda") == 15


def test_multilabel_uses_higher_learning_rates():
    single = plan_automode("image_classification", SMALL, CPU, 4, {}).portfolio[0]
    multi = plan_automode("image_classification_multilabel", SMALL, CPU, 4, {}).portfolio[0]
    assert multi["learning_rate"] == pytest.approx(single["learning_rate"] * 2.5)


def test_user_fixed_values_win():
    plan = plan_automode(
        "image_classification",
        SMALL,
        CPU,
        6,
        {"model_name": "resnet34", "number_of_epochs": 2},
        default_learning_rate=lambda model: 0.02,
    )
    assert {c["model_name"] for c in plan.portfolio} == {"resnet34"}
    assert [c["learning_rate"] for c in plan.portfolio] == [0.02, 0.006, 0.06]
    assert all("number_of_epochs" not in c for c in plan.portfolio)


def test_small_objects_get_a_larger_input():
    data = DataProfile(n_train=500, median_box_area=0.002)
    plan = plan_automode("image_object_detection", data, GPU_24, 6, {})
    sizes = {c["model_name"]: c for c in plan.portfolio}
    assert sizes["yolov8"]["image_size"] == 1024
    assert sizes["fasterrcnn_resnet50_fpn"]["min_size"] == 800


def test_batch_never_exceeds_the_data():
    assert sized_batch(78, 5, GPU_24) == 5


def test_portfolio_points_fit_the_tpe_space():
    plan = plan_automode("image_instance_segmentation", SMALL, GPU_24, 8, {})
    study = optuna.create_study(direction="maximize")
    for index in range(plan.n_portfolio):
        study.enqueue_trial(plan.enqueue_params(index))
    for config in plan.portfolio:
        assert plan.search_space.suggest(study.ask()) == config
    plan_json = plan.to_json(8)
    assert plan_json["then"]["n_trials"] == 8 - plan.n_portfolio
    json.dumps(plan_json)


def test_profile_data_reads_counts_sizes_and_boxes(tmp_path):
    box = {"label": "a", "topX": 0.1, "topY": 0.1, "bottomX": 0.3, "bottomY": 0.2}
    lines = [
        {"image_url": "/x.jpg", "label": [box, box], "image_details": {"width": 100, "height": 80}}
    ]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines * 3))
    profile = profile_data("image_object_detection", manifest)
    assert (profile.n_train, profile.median_width, profile.median_height) == (3, 100, 80)
    assert profile.median_objects == 2 and profile.median_box_area == pytest.approx(0.02)


def test_every_task_kind_has_a_portfolio_of_its_own_models():
    """AutoMode looks its portfolio up by the task descriptor's kind (no task names)."""
    from automl import schemas
    from automl.engine.sweep.automode import PORTFOLIOS
    from automl.engine.tasks import get_task

    for task in schemas.TASKS:
        portfolio = PORTFOLIOS.get(get_task(task).kind)
        for row in (*portfolio.gpu, *portfolio.cpu):
            assert row[0] in schemas.model_names(task), (task, row[0])


def test_a_job_timeout_lifts_the_cpu_epoch_cap_for_the_budget_rules():
    assert sized_epochs(60, "cpu") == 10 and sized_epochs(60, "cpu", budgeted=True) == 30
    tight = AutoModeOptions(pretrained=False, trial_budget_s=60.0, job_budget_s=180.0)
    data = DataProfile(n_train=60, median_width=224, median_height=150)
    plan = plan_automode("image_classification", data, CPU, 10, {}, options=tight)
    assert plan.explore_share == 0.0  # ~26 epochs fit: under 2 x 30
    assert plan.portfolio[0]["number_of_epochs"] > 10
