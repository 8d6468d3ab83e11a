"""The study on PostgreSQL: redacted URLs, heartbeat and lost trials, the budget lock."""

from __future__ import annotations

import threading
import time
import uuid

import optuna
import pytest
from pg_support import postgres_server  # noqa: F401  (session fixture)

from automl.engine.errors import AutomlError
from automl.engine.sweep.heartbeat import HeartbeatKeeper, fail_lost_trials, heartbeat_settings
from automl.engine.sweep.storage import (
    budget_lock,
    budget_used,
    counts_against_budget,
    make_storage,
    open_study,
    record_outcome,
)
from automl.engine.trials import TrialResult
from automl.engine.trials.storage_url import (
    STORAGE_ENV,
    redact_url,
    sqlalchemy_url,
    trial_storage,
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgresql://u@db/x", "postgresql://u@db/x"),
        ("postgresql:///x?host=db&password=s3cret", "postgresql:///x?host=db&password=***"),
        ("postgresql://u:p%40ss@db/x", "postgresql://u:***@db/x"),
        ("/runs/a/study.journal", "/runs/a/study.journal"),
    ],
)
def test_redact_url_masks_passwords(url, shown):
    assert redact_url(url) == shown


def test_trial_storage_takes_the_real_url_from_the_environment(monkeypatch):
    real = "postgresql://u:s3cret@db/x"
    monkeypatch.setenv(STORAGE_ENV, real)
    assert trial_storage(redact_url(real)) == real
    assert trial_storage("postgresql://other:***@db/x") == "postgresql://other:***@db/x"
    assert trial_storage("/a/study.journal") == "/a/study.journal"
    assert sqlalchemy_url(real) == "postgresql+psycopg://u:s3cret@db/x"


def test_heartbeat_settings_refuse_a_grace_not_above_the_interval(monkeypatch):
    monkeypatch.setenv("AUTOML_HEARTBEAT_INTERVAL_S", "5")
    monkeypatch.setenv("AUTOML_HEARTBEAT_GRACE_S", "5")
    with pytest.raises(AutomlError, match="AUTOML_HEARTBEAT_GRACE_S=5"):
        heartbeat_settings()
    monkeypatch.setenv("AUTOML_HEARTBEAT_GRACE_S", "11")
    assert heartbeat_settings().grace_s == 11


def test_connection_errors_never_show_the_password():
    with pytest.raises(AutomlError) as caught:
        make_storage("postgresql://someone:TopSecret99@127.0.0.1:1/nowhere")
    text = str(caught.value) + str(getattr(caught.value, "hint", ""))
    assert "TopSecret99" not in text
    assert "postgresql://someone:***@127.0.0.1:1/nowhere" in text


def _new_study(url: str) -> optuna.Study:
    return open_study(
        url,
        f"s-{uuid.uuid4().hex[:8]}",
        resume=False,
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.NopPruner(),
    )


def test_a_trial_without_heartbeat_is_failed_and_frees_its_budget(postgres_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AUTOML_HEARTBEAT_INTERVAL_S", "1")
    monkeypatch.setenv("AUTOML_HEARTBEAT_GRACE_S", "2")
    study = _new_study(postgres_server.url)
    alive, lost = study.ask(), study.ask()
    keeper = HeartbeatKeeper(study, "here")
    keeper.beat_now(lost._trial_id)
    assert budget_used(study) == 2
    deadline = time.monotonic() + 15
    failed: list[int] = []
    while not failed and time.monotonic() < deadline:
        failed = keeper.tick([alive._trial_id])  # only `alive` keeps beating
        time.sleep(0.3)
    assert failed == [lost.number]
    frozen = study.trials[lost.number]
    assert frozen.state == optuna.trial.TrialState.FAIL
    assert "worker lost" in frozen.user_attrs["automl_outcome"]["error"]
    assert not counts_against_budget(frozen)
    assert budget_used(study) == 1
    assert fail_lost_trials(study) == []  # the live trial is not touched
    outcome = TrialResult("complete", score=0.5)
    record_outcome(study, alive._trial_id, outcome)
    record_outcome(study, lost._trial_id, outcome)  # too late: already failed, kept so
    assert study.trials[lost.number].state == optuna.trial.TrialState.FAIL


def test_budget_lock_serialises_workers(postgres_server):  # noqa: F811
    """Four threads, each with its own storage, ask under the lock: exactly the budget."""
    name = _new_study(postgres_server.url).study_name
    asked: list[int] = []

    def worker() -> None:
        study = optuna.load_study(study_name=name, storage=make_storage(postgres_server.url))
        while True:
            with budget_lock(study, postgres_server.url):
                if budget_used(study) >= 6:
                    return
                asked.append(study.ask().number)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(asked) == list(range(6))
