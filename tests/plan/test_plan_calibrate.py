"""Calibration through the registered trainer of each family (engine/plan/calibrate.py)."""

from __future__ import annotations

import time

import pytest
from _support.jobs import write_job

from automl.engine.config import load_job, resolve_trial_parameters
from automl.engine.data import prepare_job_data
from automl.engine.plan.api import trial_context
from automl.engine.plan.calibrate import calibrate


def context_of(tmp_path, task: str, **options) -> tuple[dict, dict]:
    """(the trial context, the resolved parameters) of the smallest job of `task`."""
    job = load_job(write_job(tmp_path, task, **options))
    data = prepare_job_data(job.resolved, tmp_path / "run")
    config = resolve_trial_parameters(job.task, job.user_training_parameters)
    return trial_context(job, data), config


@pytest.mark.slow
def test_a_detector_is_timed_through_its_registered_trainer(tmp_path):
    context, config = context_of(tmp_path, "image_object_detection", training_batch_size=2)
    now = time.monotonic()
    cost = calibrate(config, context, "cpu", (now, now + 120))  # the fewest batches: 2
    assert cost.calibrated and cost.batches == 2
    assert cost.train_s > 0 and cost.valid_s > 0 and cost.overhead_s >= 0


def test_calibration_stops_at_its_deadline(tmp_path):
    context, config = context_of(tmp_path, "image_classification", training_batch_size=8)
    now = time.monotonic()
    cost = calibrate(config, context, "cpu", (now, now + 120))  # the soft deadline is past
    assert cost.calibrated and cost.batches == 2  # two batches give one timed step
    assert cost.train_s > 0


def test_a_calibration_past_its_limit_says_which_limit(tmp_path):
    from automl.engine.errors import LimitError

    context, config = context_of(tmp_path, "image_classification", training_batch_size=8)
    now = time.monotonic()
    with pytest.raises(LimitError, match="time limit \\(7 s\\)") as caught:
        calibrate(config, context, "cpu", (now, now), 7)
    assert "AUTOML_MAX_PLAN_CALIBRATION_SECONDS" in caught.value.hint


def test_a_family_that_owns_its_loop_gets_the_documented_estimate(tmp_path):
    context, config = context_of(tmp_path, "image_object_detection", model="test_tiny_yolo")
    cost = calibrate(config, context, "cpu", (time.monotonic() + 60, time.monotonic() + 120))
    assert not cost.calibrated and "not calibrated" in cost.note
    assert cost.train_s > 0 and cost.valid_s > 0


def test_a_configuration_the_limit_left_out_borrows_the_slowest_time_and_says_so():
    from automl.engine.plan.api import _borrowed
    from automl.engine.plan.calibrate import EpochCost

    distinct = {"a": {"model_name": "resnet18"}, "b": {"model_name": "resnet50"}}
    costs = {"a": EpochCost(10.0, 1.0, 5.0, batches=4)}
    cost = _borrowed(distinct["b"], distinct, costs, 60.0)
    assert (cost.train_s, cost.calibrated, cost.batches) == (10.0, False, 0)
    assert "resnet50: not calibrated within" in cost.note
    assert "AUTOML_MAX_PLAN_CALIBRATION_SECONDS" in cost.note
