"""Distributed trials: torchrun with 2 CPU processes (gloo) runs one classification trial
with one set of files, one report per evaluation and a shared prune decision."""

from __future__ import annotations

import json
import os
import subprocess

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend

from automl.engine.sweep.slots import make_slots
from automl.engine.training.distributed import DistributedContext, launcher_context
from automl.engine.trials import clean_launcher_env, torchrun_command

TRIAL_TARGET = ["-m", "automl.engine.training.trial"]


def _study(tmp_path, pruner: dict | None = None) -> tuple[optuna.Study, dict]:
    journal = tmp_path / "study.journal"
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    spec = {"storage": str(journal), "study_name": "s", "trial_id": study.ask()._trial_id}
    return study, {**spec, "pruner": pruner}


def _run_torchrun(spec_path, n_processes: int = 2, timeout: float = 240) -> int:
    command = torchrun_command([*TRIAL_TARGET, str(spec_path)], n_processes)
    with open(spec_path.parent / "trial.log", "w") as log:
        process = subprocess.run(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_launcher_env({**os.environ, "OMP_NUM_THREADS": "1"}),
            timeout=timeout,
            start_new_session=True,
        )
    return process.returncode


def _records(trial_dir) -> list[dict]:
    lines = (trial_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_two_process_trial_writes_once_and_learns(tmp_path, tiny_flowers, spec_writer):
    study, study_spec = _study(tmp_path)
    trial_dir = tmp_path / "trials" / "0"
    params = {
        "number_of_epochs": 4,
        "optimizer": "adam",
        "learning_rate": 0.005,
        "learning_rate_scheduler": "none",
    }
    spec = spec_writer(trial_dir, tiny_flowers, params=params, study=study_spec)
    assert _run_torchrun(spec) == 0, (trial_dir / "trial.log").read_text()[-3000:]

    log = (trial_dir / "trial.log").read_text()
    assert "rank 0 of 2 (gloo)" in log and "rank 1 of 2 (gloo)" in log
    records = _records(trial_dir)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]  # one line per evaluation
    trial = optuna.load_study(study_name="s", storage=study._storage).trials[0]
    assert sorted(trial.intermediate_values) == [1, 2, 3, 4]  # reported once each
    losses = [r["train"]["loss"] for r in records]
    # learns: the loss falls below the first epoch's (with augmentation and 4 epochs of a
    # tiny set, the last epoch alone can bounce back up)
    assert min(losses[1:]) < losses[0], losses
    result = json.loads((trial_dir / "result.json").read_text())
    assert result["state"] == "complete" and result["epochs_completed"] == 4
    assert (trial_dir / "outputs" / "model.pt").is_file()
    assert (trial_dir / "checkpoints" / "last.pt").is_file()
    assert sorted(p.name for p in trial_dir.glob("status*.json")) == ["status.json"]


@pytest.mark.slow
def test_a_prune_decision_stops_every_rank(tmp_path, tiny_flowers, spec_writer):
    always = {"class": "optuna.pruners.ThresholdPruner", "kwargs": {"lower": 2.0}}
    study, study_spec = _study(tmp_path, always)
    trial_dir = tmp_path / "trials" / "0"
    spec = spec_writer(trial_dir, tiny_flowers, params={"number_of_epochs": 5}, study=study_spec)
    assert _run_torchrun(spec, timeout=180) == 0  # no rank left waiting in a collective
    result = json.loads((trial_dir / "result.json").read_text())
    assert result["state"] == "pruned" and result["epochs_completed"] == 1
    assert len(_records(trial_dir)) == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, DistributedContext()),
        ({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, DistributedContext(1, 4, 1)),
        (
            {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1"},
            DistributedContext(3, 4, 1),
        ),
        (
            {"RANK": "0", "WORLD_SIZE": "2", "SLURM_PROCID": "5", "SLURM_NTASKS": "8"},
            DistributedContext(0, 2, 0),
        ),
    ],
    ids=["alone", "torchrun", "slurm", "torchrun-inside-slurm"],
)
def test_launcher_context_reads_torchrun_then_slurm(env, expected):
    assert launcher_context(env) == expected


def test_torchrun_command_standalone_and_multi_node():
    single = torchrun_command(["-m", "m", "spec.json"], 4)
    assert single[-3:] == ["-m", "m", "spec.json"]
    assert "--nproc-per-node=4" in single and "--standalone" in single
    multi = torchrun_command(["s.json"], 2, n_nodes=3, rendezvous="h:29400", run_id="job-7")
    assert "--standalone" not in multi
    assert {"--nnodes=3", "--rdzv-backend=c10d", "--rdzv-endpoint=h:29400"} <= set(multi)
    assert "--rdzv-id=job-7" in multi


def test_launcher_variables_do_not_leak_into_trials():
    env = {"RANK": "3", "SLURM_PROCID": "2", "PATH": "/bin", "MASTER_PORT": "1"}
    assert clean_launcher_env(env) == {"PATH": "/bin"}


def test_slots_split_the_gpus_for_multi_gpu_trials(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [s.cuda_visible_devices for s in make_slots(2, [0, 1, 2, 3])] == ["0,1", "2,3"]
    assert [s.n_gpus for s in make_slots(1, [0, 1, 2])] == [3]
    assert [s.cuda_visible_devices for s in make_slots(3, [0, 1])] == ["0", "1", "0"]
    assert [s.device for s in make_slots(2, [])] == ["cpu", "cpu"]
