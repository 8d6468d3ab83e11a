"""Multi-node trials (`properties.node_count_per_trial`): two controllers on one machine
form a 2-node group through torchrun's c10d rendezvous (gloo, CPU) and run one
classification trial over both; the group's places are claimed through the study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from _support.jobs import job_dict, job_yaml
from optuna.storages.journal import JournalFileBackend

from automl.engine.config import load_job
from automl.engine.errors import AutomlError, ConfigError
from automl.engine.sweep import groups
from automl.engine.sweep.attrs import JOB_ATTR
from automl.engine.sweep.worker import load_job_study
from automl.engine.trials import torchrun_command

AUTOML = str(Path(sys.executable).with_name("automl"))


def multinode_job(nodes: str = "2") -> str:
    """A 2-epoch tiny trial over `nodes` nodes."""
    return job_yaml(job_dict(epochs=2, properties={"node_count_per_trial": nodes},
                             limits={"max_trials": 1}, training_batch_size=16))  # fmt: skip


JOB = multinode_job()


class _Job:
    def __init__(self, properties: dict | None) -> None:
        self.resolved = {"properties": properties} if properties is not None else {}


@pytest.mark.parametrize(
    ("properties", "expected"),
    [(None, 1), ({"node_count_per_trial": "2"}, 2), ({"node_count_per_trial": 3}, 3)],
)
def test_node_count_reads_the_azure_property(properties, expected):
    assert groups.node_count(_Job(properties)) == expected


def test_node_count_rejects_a_bad_value():
    with pytest.raises(ConfigError, match="not a positive whole number"):
        groups.node_count(_Job({"node_count_per_trial": "two"}))


def test_config_rule_rejects_a_bad_node_count(tmp_path):
    path = tmp_path / "job.yml"
    path.write_text(multinode_job("two"))
    with pytest.raises(ConfigError) as caught:
        load_job(path)
    assert any("not a count of machines" in issue for issue in caught.value.issues)


def test_torchrun_command_for_one_node_of_a_group():
    command = torchrun_command(
        ["-m", "x"],
        1,
        n_nodes=2,
        rendezvous="h:29400",
        run_id="r1",
        node_rank=1,
        local_addr="10.0.0.2",
        host_store=False,
        join_timeout_s=90,
    )
    assert "--nnodes=2" in command and "--rdzv-backend=c10d" in command
    assert "--rdzv-endpoint=h:29400" in command and "--rdzv-id=r1" in command
    assert "--node-rank=1" in command and "--local-addr=10.0.0.2" in command
    assert "--rdzv-conf=is_host=0,join_timeout=90" in command
    assert command[-2:] == ["-m", "x"]


def test_group_places_are_claimed_once_each(tmp_path, monkeypatch):
    monkeypatch.setenv(groups.ADDR_ENV, "127.0.0.1")
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    assert groups.claim_place(study, 3) is None  # no group open yet
    trial = study.ask()
    group = groups.open_group(study, trial._trial_id, 3)
    assert group["endpoint"].startswith("127.0.0.1:") and group["n_nodes"] == 3
    first, second = groups.claim_place(study, 3), groups.claim_place(study, 3)
    assert (first.node_rank, second.node_rank) == (1, 2)
    assert first.run_id == second.run_id == group["run_id"]
    assert groups.claim_place(study, 3) is None  # full
    assert groups.members_joined(study, trial._trial_id, 3) == 2
    late = study.ask()
    groups.open_group(study, late._trial_id, 2)
    assert groups.claim_place(study, 2, wait_s=-1.0) is None  # past its wait: not joined
    message = groups.group_timeout_message(4, 0, 2, 30)
    assert "1 of 2 joined" in message and "automl job worker" in message


def _node_env(tmp_path) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    env.update(
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS="1",
        AUTOML_NODE_ADDR="127.0.0.1",
        AUTOML_GROUP_WAIT_S="120",
        AUTOML_HOME=str(tmp_path / "home"),
        NO_COLOR="1",
    )
    return env


def _start(command: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "wb") as handle:
        return subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _wait_for_job(journal: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if journal.exists():
            try:
                if load_job_study("mn", str(journal)).user_attrs.get(JOB_ATTR):
                    return
            except AutomlError:
                pass
        time.sleep(0.2)
    raise AssertionError("the job's study did not appear")


def _finish(process: subprocess.Popen, timeout: float) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        raise


@pytest.mark.slow
def test_two_workers_form_a_group_and_run_one_trial(tmp_path):
    (tmp_path / "job.yml").write_text(JOB)
    run_dir, env = tmp_path / "run", _node_env(tmp_path)
    creator = _start(
        [AUTOML, "job", "create", "--file", str(tmp_path / "job.yml"), "--name", "mn"]
        + ["--run-dir", str(run_dir)],
        tmp_path / "creator.log",
        env,
    )
    try:
        _wait_for_job(run_dir / "study.journal", time.monotonic() + 60)
        worker = _start(
            [AUTOML, "job", "worker", "mn", "--storage", str(run_dir / "study.journal")],
            tmp_path / "worker.log",
            env,
        )
        worker_code = _finish(worker, 150)
    finally:
        creator_code = _finish(creator, 150)
    logs = {p.name: p.read_text(errors="replace") for p in tmp_path.glob("*.log")}
    assert (creator_code, worker_code) == (0, 0), logs
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["n_trials"] == 1, summary
    assert summary["trials"][0]["state"] == "complete"
    trial_dir = run_dir / "trials" / "0"
    node_logs = [trial_dir / "trial.log", trial_dir / "trial.node1.log"]
    text = "".join(p.read_text(errors="replace") for p in node_logs)
    # both nodes took part: one process of a 2-process world on each
    assert "rank 0 of 2" in text and "rank 1 of 2" in text, text
    assert "joined its group as node 1 of 2" in logs["worker.log"] + logs["creator.log"]
    # one set of artifacts, written by rank 0
    assert len(list(run_dir.glob("trials/*/outputs/model.pt"))) == 1
    assert (run_dir / "best_model" / "model.pt").is_file()
    assert json.loads((trial_dir / "result.json").read_text())["state"] == "complete"
    epochs = [json.loads(line) for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in epochs] == [1, 2]


def test_a_killed_launcher_takes_its_ranks_with_it(tmp_path):
    """torchrun starts ranks in their own sessions; the controller's SIGKILL reaches them."""
    from automl.engine.sweep.processes import signal_group

    pid_file = tmp_path / "rank.pid"
    launcher_code = (
        "import subprocess, sys, time\n"
        "rank = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(rank.pid))\n"
        "time.sleep(60)\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", launcher_code], start_new_session=True)
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    rank_pid = int(pid_file.read_text())
    signal_group(launcher.pid, 9)
    assert launcher.wait(timeout=10) == -9
    deadline = time.monotonic() + 10
    while Path(f"/proc/{rank_pid}").exists() and time.monotonic() < deadline:
        state = Path(f"/proc/{rank_pid}/stat").read_text().split()[2]
        if state == "Z":  # killed; its parent (gone) will not reap it
            break
        time.sleep(0.05)
    alive = Path(f"/proc/{rank_pid}").exists()
    assert not alive or Path(f"/proc/{rank_pid}/stat").read_text().split()[2] == "Z"
