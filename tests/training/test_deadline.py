"""A trial that must end by a time (TrialSpec.finish_by, AutoMode with a timeout): fewer
epochs at the measured pace, the learning-rate schedule ending with the last of them."""

from __future__ import annotations

import json
import time

import pytest
import torch

from automl.engine.training.optim import (
    DEADLINE_MARGIN,
    build_optimizer,
    build_scheduler,
    epochs_by_deadline,
    warmup_cosine_factor,
)
from automl.engine.training.settings import TrainingSettings
from automl.engine.training.trial import EpochClock
from automl.engine.trials import TrialResult, TrialSpec
from automl.engine.utils.files import read_jsonl


def test_epochs_by_deadline_shortens_only_what_would_end_late():
    assert epochs_by_deadline(2, 10, 1000.0, 10.0) is None  # fits: the plan stands
    fits = int(45.0 / (10.0 * DEADLINE_MARGIN))  # 4 more epochs
    assert epochs_by_deadline(2, 10, 45.0, 10.0) == 2 + fits
    assert epochs_by_deadline(2, 10, 5.0, 10.0) == 2  # not one more: end now
    assert epochs_by_deadline(2, 10, -30.0, 10.0) == 2  # already late
    assert epochs_by_deadline(2, 10, 45.0, None) is None  # nothing measured yet
    assert epochs_by_deadline(10, 10, 5.0, 10.0) is None  # done


def test_the_cosine_ends_with_the_new_last_epoch(params):
    settings = TrainingSettings.from_parameters(
        params(number_of_epochs=10, warmup_cosine_lr_warmup_epochs=0, learning_rate=0.1)
    )
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, settings)
    plan = build_scheduler(optimizer, settings, batches_per_epoch=4)
    for _ in range(8):  # two epochs
        optimizer.step()
        plan.step_batch()
    plan.set_epochs(4)  # two more epochs instead of eight
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        plan.step_batch()
    assert lrs == sorted(lrs, reverse=True)
    # annealed as at the end of a planned schedule (Azure's cycles 0.45 end at ~2.4 %)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(
        0.1 * warmup_cosine_factor(16, 0, 16, 0.45)
    )


def test_epoch_clock_is_the_mean_of_the_epochs_only():
    clock = EpochClock()
    assert clock.mean_s() is None
    for _ in range(2):
        clock.start()
        time.sleep(0.01)
        clock.stop()
    clock.stop()  # no epoch running: nothing counted
    assert clock.count == 2 and 0.01 <= clock.mean_s() < 1.0


def test_spec_and_result_carry_the_new_fields_only_when_set(tmp_path):
    from automl.engine.trials.spec import TrialData

    data = TrialData(tmp_path / "t.jsonl", tmp_path / "v.jsonl", ("a", "b"))
    spec = TrialSpec("image_classification", tmp_path, "accuracy", {}, data)
    assert "finish_by" not in spec.to_dict()
    timed = TrialSpec("image_classification", tmp_path, "accuracy", {}, data, finish_by=1.5e9)
    assert TrialSpec.from_json(timed.to_json()).finish_by == 1.5e9
    assert "epoch_s" not in TrialResult("complete").to_dict()
    assert TrialResult.from_dict(TrialResult("complete", epoch_s=2.5).to_dict()).epoch_s == 2.5


def test_a_trial_with_little_time_trains_fewer_epochs_and_anneals(
    tmp_path, tiny_flowers, spec_writer, run_trial_process
):
    trial = tmp_path / "trials" / "0"
    spec = spec_writer(
        trial,
        tiny_flowers,
        params={"number_of_epochs": 50, "warmup_cosine_lr_warmup_epochs": 0},
        finish_by=time.time() + 8.0,  # far less than 50 epochs take
    )
    assert run_trial_process(spec) == 0
    result = json.loads((trial / "result.json").read_text())
    assert result["state"] == "complete" and 1 <= result["epochs_completed"] < 50
    assert result["epoch_s"] > 0
    log = (trial / "trial.log").read_text()
    assert "epochs in all instead of 50" in log
    lines = read_jsonl(trial / "metrics.jsonl")
    assert lines[-1]["epoch"] == result["epochs_completed"]  # the new last epoch evaluated


def test_a_fitted_schedule_is_not_lengthened_late(monkeypatch):
    from dataclasses import dataclass
    from types import SimpleNamespace

    from automl.engine.training import hooks as hooks_module

    @dataclass(frozen=True)
    class Settings:
        number_of_epochs: int

    class Scheduler:
        epochs = None

        def set_epochs(self, epochs):
            self.epochs = epochs

    status = SimpleNamespace(update=lambda **fields: None)
    clock = SimpleNamespace(mean_s=lambda: 10.0)
    run = SimpleNamespace(
        settings=Settings(20), spec=SimpleNamespace(finish_by=time.time() + 1000.0),
        status=status, epoch_clock=clock,
    )  # fmt: skip
    hooks = hooks_module.EpochHooks(run)
    run.settings = Settings(12)  # shortened earlier; now the time would hold all 20
    scheduler = Scheduler()
    hooks.fit_to_deadline(10, scheduler)  # past three quarters of 12: kept
    assert run.settings.number_of_epochs == 12 and scheduler.epochs is None
    hooks.fit_to_deadline(5, scheduler)  # early: back to the plan
    assert run.settings.number_of_epochs == 20 and scheduler.epochs == 20
