"""The trial runner end to end, in its own process, as the sweep controller launches it."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
import torch

from automl.engine.utils.files import read_jsonl

PACKAGE_FILES = {"model.pt", "settings.json", "labels.json", "MLmodel", "requirements.txt"}
RESULT_KEYS = {"state", "score", "best_epoch", "metrics", "epochs_completed", "duration_s", "error"}
STATUS_KEYS = {
    "state",
    "pid",
    "epoch",
    "n_epochs",
    "step",
    "n_steps",
    "train_loss",
    "last_score",
    "best_score",
    "eta_s",
    "updated_at",
}


ALL_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")


def read_json(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("task", "primary", "run_fixture"),
    [
        ("image_classification", "accuracy", "classification_run"),
        ("image_classification_multilabel", "iou", "multilabel_run"),
    ],
)
def test_trial_writes_every_contract_file(request, task, primary, run_fixture):
    """Read from the 2-epoch trials of the session's trained models (tests/_support/trained.py,
    checkpoint_frequency 1), which `automl job create`'s controller launched."""
    run_dir = request.getfixturevalue(run_fixture)
    trial = run_dir / "trials" / "0"
    result = read_json(trial / "result.json")
    assert set(result) >= RESULT_KEYS and result["state"] == "complete"
    assert result["epochs_completed"] == 2 and result["error"] is None
    assert result["score"] == result["metrics"][primary]
    lines = read_jsonl(trial / "metrics.jsonl")
    assert [line["epoch"] for line in lines] == [1, 2]
    assert {"epoch", "elapsed_s", "lr", "train", "valid"} <= set(lines[0])
    assert "loss" in lines[0]["train"] and "log_loss" in lines[0]["valid"]
    status = read_json(trial / "status.json")
    assert set(status) >= STATUS_KEYS and status["epoch"] == 2
    assert {p.name for p in (trial / "outputs").iterdir()} == PACKAGE_FILES
    record = torch.load(trial / "outputs" / "model.pt", weights_only=True)
    labels = read_json(run_dir / "data" / "split.json")["labels"]
    assert record["labels"] == labels and record["task"] == task
    assert {"state_dict", "model_name", "settings", "training_parameters"} <= set(record)
    for name in ("last.pt", "1_model.pt", "2_model.pt"):
        assert (trial / "checkpoints" / name).is_file()
    plots = {p.name for p in (trial / "plots").iterdir()}
    assert {"loss.png", f"{primary}.png"} <= plots
    assert ("confusion_matrix.png" in plots) == (task == "image_classification")


def test_resume_continues_at_next_epoch(tmp_path, tiny_flowers, spec_writer, run_trial_process):
    trial = tmp_path / "trials" / "0"
    spec = spec_writer(trial, tiny_flowers, params={"number_of_epochs": 1})
    assert run_trial_process(spec) == 0
    first = torch.load(trial / "checkpoints" / "last.pt", weights_only=True)
    assert first["epoch"] == 1
    spec = spec_writer(trial, tiny_flowers, params={"number_of_epochs": 3}, resume=True)
    assert run_trial_process(spec) == 0
    assert [line["epoch"] for line in read_jsonl(trial / "metrics.jsonl")] == [1, 2, 3]
    assert "continuing at epoch 2" in (trial / "trial.log").read_text()
    assert read_json(trial / "result.json")["epochs_completed"] == 3


def test_pruner_stops_the_trial(tmp_path, tiny_flowers, spec_writer, run_trial_process):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    journal = tmp_path / "study.journal"
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    trial_id = study.ask()._trial_id
    always = {"class": "optuna.pruners.ThresholdPruner", "kwargs": {"lower": 2.0}}
    study_spec = {
        "storage": str(journal),
        "study_name": "s",
        "trial_id": trial_id,
        "pruner": always,
    }
    spec = spec_writer(
        tmp_path / "trials" / "0", tiny_flowers, params={"number_of_epochs": 4}, study=study_spec
    )
    assert run_trial_process(spec) == 0
    result = read_json(spec.parent / "result.json")
    assert result["state"] == "pruned" and result["epochs_completed"] == 1
    reloaded = optuna.load_study(study_name="s", storage=storage)
    assert reloaded.trials[0].intermediate_values.keys() == {1}


def test_sigterm_cancels_and_saves_last(tmp_path, tiny_flowers, spec_writer, start_trial_process):
    # many small steps so that the signal lands during training
    spec = spec_writer(
        tmp_path / "trials" / "0",
        tiny_flowers,
        params={"number_of_epochs": 50, "training_batch_size": 2},
    )
    proc = start_trial_process(spec)
    status = spec.parent / "status.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (status.exists() and read_json(status)["step"] > 0):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert read_json(spec.parent / "result.json")["state"] == "canceled"
    assert (spec.parent / "checkpoints" / "last.pt").is_file()


def test_standby_process_runs_and_cancels_a_real_trial(tmp_path, tiny_flowers, spec_writer):
    """A trial handed to a standby (engine/sweep/standby.py) behaves as one started fresh:
    its preload left CUDA alone, its signal handlers work, its log is trial.log."""
    from automl.engine.sweep.standby import StandbyPool
    from automl.engine.trials import TRIAL_MODULE, slot_variables

    spec = spec_writer(
        tmp_path / "trials" / "0",
        tiny_flowers,
        params={"number_of_epochs": 50, "training_batch_size": 2},
    )
    with StandbyPool(TRIAL_MODULE, enabled=True) as pool:
        slot = slot_variables("", 1)
        pool.prestart(slot)
        proc = pool.hand_over(spec, spec.parent / "trial.log", {**os.environ, **slot})
        assert proc is not None
        status = spec.parent / "status.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            status.exists() and read_json(status)["step"] > 0
        ):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    assert read_json(spec.parent / "result.json")["state"] == "canceled"
    assert (spec.parent / "checkpoints" / "last.pt").is_file()
    assert "canceled" in (spec.parent / "trial.log").read_text()


def test_failure_exits_1_with_message(tmp_path, tiny_flowers, spec_writer, run_trial_process):
    spec = spec_writer(tmp_path / "trials" / "0", tiny_flowers, params={"layers_to_freeze": 9})
    assert run_trial_process(spec) == 1
    result = read_json(spec.parent / "result.json")
    assert result["state"] == "failed" and "layers_to_freeze=9" in result["error"]
    assert "layers_to_freeze=9" in (spec.parent / "trial.log").read_text()


@pytest.mark.slow
def test_tiny_cnn_beats_chance_on_flowers(tmp_path, dataset_maker, spec_writer, run_trial_process):
    flowers = dataset_maker(tmp_path / "data", 40, 10, 64, classes=ALL_CLASSES)
    params = {
        "number_of_epochs": 20,
        "training_batch_size": 16,
        "learning_rate": 0.05,
        "warmup_cosine_lr_warmup_epochs": 1,
        "training_crop_size": 56,
        "validation_crop_size": 56,
        "validation_resize_size": 64,
        "early_stopping": False,
    }
    spec = spec_writer(tmp_path / "trials" / "0", flowers, params=params)
    assert run_trial_process(spec, timeout=600) == 0
    score = read_json(spec.parent / "result.json")["score"]
    assert score >= 0.4  # chance is 0.2 with 5 balanced classes


def test_a_killed_data_worker_fails_the_trial_in_one_line(
    tmp_path, tiny_flowers, spec_writer, start_trial_process
):
    """The out-of-memory killer's usual victim is a data-loading worker: the trial fails
    with one clear line, not torch's traceback."""
    spec = spec_writer(
        tmp_path / "trials" / "0",
        tiny_flowers,
        params={"number_of_epochs": 50, "training_batch_size": 2, "number_of_workers": 1},
    )
    proc = start_trial_process(spec)
    status = spec.parent / "status.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (status.exists() and read_json(status)["step"] > 0):
        time.sleep(0.2)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children, "no data-loading worker"
    os.kill(int(children[0]), signal.SIGKILL)
    assert proc.wait(timeout=60) == 1
    error = read_json(spec.parent / "result.json")["error"]
    assert "data-loading worker process died" in error and "number_of_workers" in error
    assert "Traceback" not in own_lines((spec.parent / "trial.log").read_text())


def own_lines(log: str) -> str:
    """The trial log without CPython's "Exception ignored in" reports: under load, a fork of
    a data-loading worker can race logging's at-fork lock handler in the interpreter itself,
    which prints such a report on its own; it is not the trial's error."""
    return re.sub(r"Exception ignored in: .*?(?=^\d{4}-\d\d-\d\d |\Z)", "", log, flags=re.S | re.M)


def test_a_worker_dying_mid_hand_over_is_the_same_one_line():
    """When the worker dies while handing a batch over, the data loader's socket breaks
    (ConnectionResetError inside torch.utils.data): the same clear line; a connection error
    raised elsewhere stays what it is."""
    from automl.engine.training.trial import worker_death_error

    code = compile("raise ConnectionResetError(104, 'reset')", "torch/utils/data/x.py", "exec")
    try:
        exec(code)
    except ConnectionResetError as inside_loader:
        error = worker_death_error(inside_loader)
    assert error is not None and "data-loading worker process died" in str(error)
    try:
        raise ConnectionResetError(104, "reset")
    except ConnectionResetError as elsewhere:
        assert worker_death_error(elsewhere) is None
