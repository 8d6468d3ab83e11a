"""Schedules, early stopping, freezing, weighted loss and the loop pieces, in-process."""

from __future__ import annotations

import math

import pytest
import torch

from automl.engine.errors import TrialError
from automl.engine.models import get_model_spec
from automl.engine.training._classification import build_training_state
from automl.engine.training.early_stopping import EarlyStopper
from automl.engine.training.hooks import should_evaluate
from automl.engine.training.loop import (
    Device,
    build_dataloaders,
    effective_workers,
    evaluate,
    train_one_epoch,
)
from automl.engine.training.losses import build_loss, imbalance_rate, loss_weights
from automl.engine.training.optim import build_optimizer, build_scheduler, warmup_cosine_factor
from automl.engine.training.settings import TrainingSettings
from automl.engine.training.trainers import TrialInputs


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def azure_warmup_cosine(step, warmup, total, cycles):
    """Reference §3.13, written out independently."""
    if step < warmup:
        return step / warmup
    progress = (step - warmup) / (total - warmup)
    return max(0.0, 0.5 * (1 + math.cos(math.pi * 2 * cycles * progress)))


def test_warmup_cosine_matches_azure_formula(params):
    settings = TrainingSettings.from_parameters(
        params(number_of_epochs=5, warmup_cosine_lr_warmup_epochs=2, learning_rate=0.1)
    )
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, settings)
    plan = build_scheduler(optimizer, settings, batches_per_epoch=4)
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        plan.step_batch()
    expected = [0.1 * azure_warmup_cosine(s, 8, 20, 0.45) for s in range(20)]
    assert seen == pytest.approx(expected)
    assert seen[0] == 0.0 and seen[8] == pytest.approx(0.1)
    assert warmup_cosine_factor(40, 8, 20, 0.45) == warmup_cosine_factor(20, 8, 20, 0.45)


def test_step_scheduler_steps_per_epoch(params):
    settings = TrainingSettings.from_parameters(
        params(learning_rate_scheduler="step", step_lr_step_size=2, step_lr_gamma=0.5)
    )
    optimizer = build_optimizer(torch.nn.Linear(2, 2), settings)
    plan = build_scheduler(optimizer, settings, batches_per_epoch=3)
    lrs = []
    for _ in range(5):
        for _ in range(3):
            optimizer.step()
            plan.step_batch()
        plan.step_epoch()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.01, 0.005, 0.005, 0.0025, 0.0025])


@pytest.mark.parametrize(
    ("name", "kind", "extra"),
    [
        ("sgd", torch.optim.SGD, "nesterov"),
        ("adam", torch.optim.Adam, "amsgrad"),
        ("adamw", torch.optim.AdamW, "amsgrad"),
    ],
)
def test_optimizers_take_their_parameters(params, name, kind, extra):
    settings = TrainingSettings.from_parameters(
        params(optimizer=name, ams_gradient=True, beta1=0.8, weight_decay=0.01)
    )
    optimizer = build_optimizer(torch.nn.Linear(2, 2), settings)
    assert isinstance(optimizer, kind)
    group = optimizer.param_groups[0]
    assert group[extra] is True and group["weight_decay"] == 0.01
    if name != "sgd":
        assert group["betas"] == (0.8, 0.999)


def test_early_stopping_patience_and_delay():
    stopper = EarlyStopper(enabled=True, patience=2, delay=3)
    scores = [0.5, 0.4, 0.4, 0.4, 0.6, 0.6, 0.5]
    stops = []
    for epoch, score in enumerate(scores, 1):
        stopper.update(epoch, score)
        stops.append(stopper.should_stop)
    # epochs 2-3 are within the delay; epoch 4 counts 1, epoch 5 improves (reset),
    # epochs 6 (a tie) and 7 count 1 and 2: stop after epoch 7
    assert stops == [False] * 6 + [True]
    assert stopper.best_epoch == 6  # a tie moves the best model to the later epoch


def test_a_resumed_stopper_keeps_its_own_settings_and_the_checkpoints_progress():
    old = EarlyStopper(enabled=True, patience=2, delay=0)
    for epoch, score in enumerate((0.5, 0.4, 0.3), 1):
        old.update(epoch, score)
    assert old.should_stop
    resumed = EarlyStopper(enabled=False, patience=2, delay=0)  # a final run: stopping off
    resumed.load_state_dict(old.state_dict())
    assert (resumed.best_score, resumed.best_epoch, resumed.no_progress) == (0.5, 1, 2)
    assert not resumed.enabled and not resumed.should_stop


def test_early_stopping_disabled_never_stops():
    stopper = EarlyStopper(enabled=False, patience=1, delay=0)
    for epoch in range(1, 6):
        stopper.update(epoch, 0.1)
    assert not stopper.should_stop and stopper.no_progress == 4


def test_evaluation_frequency_includes_last_epoch(params):
    settings = TrainingSettings.from_parameters(params(number_of_epochs=5, evaluation_frequency=2))
    assert [e for e in range(1, 6) if should_evaluate(e, settings)] == [2, 4, 5]


def test_weighted_loss_follows_imbalance_rule():
    counts = torch.tensor([30.0, 10.0, 5.0])
    assert imbalance_rate(counts) == 6
    assert loss_weights(counts, 45, False, 0) is None
    assert torch.allclose(loss_weights(counts, 45, False, 2), 1 / counts)
    assert torch.allclose(loss_weights(counts, 45, False, 1), (1 / counts).sqrt())
    assert torch.allclose(loss_weights(counts, 45, True, 2), (45 - counts) / counts)
    assert loss_weights(torch.tensor([10.0, 5.0]), 15, False, 2) is None  # rate 2: not > 2


def test_build_loss_kinds():
    records = [{"label": "a"}] * 9 + [{"label": "b"}]
    loss = build_loss(records, ["a", "b"], multilabel=False, weighted_loss=2)
    assert isinstance(loss, torch.nn.CrossEntropyLoss) and loss.weight is not None
    ml = build_loss([{"label": ["a"]}, {"label": []}], ["a", "b"], multilabel=True, weighted_loss=0)
    assert isinstance(ml, torch.nn.BCEWithLogitsLoss) and ml.pos_weight is None


def test_workers_capped_at_cpu_count(caplog, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    with caplog.at_level("INFO", logger="automl"):
        assert effective_workers(8) == 2
    assert "capped" in caplog.text
    assert effective_workers(1) == 1


def test_missing_training_parameter_is_named(params):
    bad = params()
    del bad["learning_rate"], bad["optimizer"]
    with pytest.raises(TrialError, match="learning_rate, optimizer"):
        TrainingSettings.from_parameters(bad)


def make_state(tiny_flowers, spec_writer, tmp_path, **overrides):
    import json

    spec = json.loads(spec_writer(tmp_path, tiny_flowers, params=overrides).read_text())
    settings = TrainingSettings.from_parameters(spec["training_parameters"])
    device = Device.from_name("cpu")
    torch.manual_seed(0)
    trial = TrialInputs.from_spec(spec)
    data = build_dataloaders(trial, settings, get_model_spec(settings.model_name), device)
    return build_training_state(trial, settings, data, device, lambda: False), data


def test_layers_to_freeze_keeps_frozen_weights_unchanged(tiny_flowers, spec_writer, tmp_path):
    state, data = make_state(
        tiny_flowers, spec_writer, tmp_path, layers_to_freeze=2, warmup_cosine_lr_warmup_epochs=0
    )
    before = {k: v.clone() for k, v in state.model.state_dict().items()}
    train_one_epoch(state, data.train_loader, lambda *a: None)
    after = state.model.state_dict()
    assert torch.equal(before["stem.0.weight"], after["stem.0.weight"])
    assert torch.equal(before["stage1.0.weight"], after["stage1.0.weight"])
    assert not torch.equal(before["stage2.0.weight"], after["stage2.0.weight"])
    assert not torch.equal(before["fc.weight"], after["fc.weight"])


@pytest.mark.filterwarnings(r"ignore:Seems like `optimizer.step\(\)`")
def test_gradient_accumulation_steps_less_often(tiny_flowers, spec_writer, tmp_path):
    state, data = make_state(
        tiny_flowers, spec_writer, tmp_path, training_batch_size=4, gradient_accumulation_step=3
    )
    calls = []
    original = state.optimizer.step
    state.optimizer.step = lambda *a, **k: calls.append(1) or original(*a, **k)
    train_one_epoch(state, data.train_loader, lambda *a: None)
    assert len(data.train_loader) == 6 and len(calls) == 2


def test_evaluate_returns_probabilities(tiny_flowers, spec_writer, tmp_path):
    state, data = make_state(tiny_flowers, spec_writer, tmp_path)
    loss, targets, probs = evaluate(state, data.valid_loader)
    assert loss > 0 and probs.shape == (12, 4) and targets.shape == (12,)
    assert probs.sum(axis=1) == pytest.approx([1.0] * 12)


def test_a_non_finite_loss_fails_the_trial_with_a_fix(tiny_flowers, spec_writer, tmp_path):
    from automl.engine.training.loop import classification_batch_loss

    state, data = make_state(tiny_flowers, spec_writer, tmp_path)
    calls = []

    def loss_turning_nan(state, model, batch):
        calls.append(1)
        loss = classification_batch_loss(state, model, batch)
        return loss * float("nan") if len(calls) == 2 else loss

    with pytest.raises(TrialError, match="became nan by step 2") as caught:
        train_one_epoch(state, data.train_loader, lambda *a: None, loss_turning_nan)
    assert "lower learning_rate" in caught.value.hint
    assert len(calls) == 2  # on the CPU every step is checked


def test_the_gpu_checks_the_running_loss_every_few_steps():
    from automl.engine.training.loop import GPU_FINITE_CHECK_STEPS, finite_check_every

    class Cuda:
        is_cuda = True

    class Cpu:
        is_cuda = False

    assert finite_check_every(Cuda()) == GPU_FINITE_CHECK_STEPS > 1
    assert finite_check_every(Cpu()) == 1
