"""Where a sweep's study lives, and the trial outcomes recorded in it.

Default: an Optuna JournalStorage file (`run_dir/study.journal`): append-only, safe when
the controller is killed, and safe on NFS. `storage_url` (anything with "://", e.g.
postgresql://...) selects Optuna's RDBStorage, which several machines share: workers
(`automl job worker`) join the study by name, and the study itself records the job (run
directory, start time: JOB_ATTR), so `timeout_minutes` counts from the job's start on every
worker. RDB storages get Optuna's heartbeat (heartbeat.py): a trial whose worker stops
beating is failed after the grace period. Every fact the summary shows about a finished
trial is stored in the study (user attributes: attrs.py), so any machine rebuilds the
job's record from it alone. URLs are shown redacted (engine/trials/storage_url.py) in every
message.

This is the one module that uses Optuna's internals (a trial's id, the storage behind a
study, heartbeats, stale trials): everything else in the sweep goes through the functions
here or Optuna's public API.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.engine.errors import AutomlError
from automl.engine.sweep.attrs import INTERRUPTED_ATTR, JOB_ATTR, OUTCOME_ATTR
from automl.engine.trials import TrialResult
from automl.engine.trials.storage_url import is_postgresql, is_url, redact_url, sqlalchemy_url

logger = logging.getLogger("automl.sweep")

STUDY_FILE = "study.journal"
BUDGET_LOCK_SUFFIX = ".budget.lock"
TABLE_RACE_ATTEMPTS = 5
_OPTUNA_STATES = {
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "timeout": TrialState.FAIL,
    "canceled": TrialState.FAIL,
}


def storage_reference(run_dir: Path, storage_url: str | None) -> str:
    """What a trial spec names as `study.storage`: a journal path or an RDB URL."""
    return storage_url or str(Path(run_dir).resolve() / STUDY_FILE)


def make_storage(reference: str) -> optuna.storages.BaseStorage:
    """A journal file path -> JournalStorage; a URL with '://' -> RDBStorage with heartbeat."""
    if is_url(reference):
        return _rdb_storage(reference)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(reference))


def _rdb_storage(url: str) -> optuna.storages.BaseStorage:
    import sqlalchemy.exc

    from automl.engine.sweep.heartbeat import heartbeat_settings
    from automl.engine.trials.storage_url import require_storage_driver

    require_storage_driver(url)

    settings = heartbeat_settings()
    race_error: BaseException | None = None
    for attempt in range(TABLE_RACE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    sqlalchemy_url(url),
                    engine_kwargs={"pool_pre_ping": True},  # outlive dropped connections
                    heartbeat_interval=settings.interval_s,
                    grace_period=settings.grace_s,
                )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            # Workers starting together on an empty database race to create Optuna's
            # tables; the loser sees "duplicate key" and finds the tables on a retry.
            race_error = exc
            time.sleep(0.2 * (attempt + 1))
        except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
            raise storage_error(url, exc) from None
    raise storage_error(url, race_error)


def storage_error(url: str, exc: BaseException) -> AutomlError:
    """A connection failure, with the URL redacted and no secret in the driver's text."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return AutomlError(
        f"cannot open the study storage {redact_url(url)}: {scrub(first, url)}",
        hint="check that the database server is reachable from this machine and that the "
        "URL (or PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) names a database you may "
        "write to; pip install 'automl-vision[postgres]' provides the PostgreSQL driver",
    )


def scrub(text: str, url: str) -> str:
    """`text` with the URL's password (if any) masked, wherever a driver echoed it."""
    from urllib.parse import unquote, urlsplit

    password = urlsplit(url).password if is_url(url) else None
    for secret in filter(None, {password, unquote(password or "")}):
        text = text.replace(secret, "***")
    return text


def open_study(
    reference: str,
    study_name: str,
    *,
    resume: bool,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """Create the job's study, or reopen it with `resume` (workers join the same way)."""
    # The controller logs one line per trial itself; Optuna's own INFO lines would double it.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(reference)
    shown = redact_url(reference)
    if resume:
        try:
            return optuna.load_study(
                study_name=study_name, storage=storage, sampler=sampler, pruner=pruner
            )
        except KeyError:
            raise AutomlError(
                f"no study named {study_name!r} in {shown}: nothing to resume or join",
                hint="start the job with 'automl job create' (with the same --storage) first",
            ) from None
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise AutomlError(
            f"a study named {study_name!r} already exists in {shown}",
            hint="resume it with 'automl job resume', join it with 'automl job worker', "
            "or give the job another name",
        ) from None
    return study


def job_record(study: optuna.Study) -> dict:
    """What the job's creator stored with the study (empty for older studies)."""
    return dict(study.user_attrs.get(JOB_ATTR) or {})


def trial_id(trial: optuna.trial.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (Optuna keeps it private; numbers are per study)."""
    return trial._trial_id


def trial_handle(study: optuna.Study, trial: FrozenTrial) -> optuna.trial.Trial:
    """A live handle on a trial asked earlier (one to run again from its checkpoint)."""
    return optuna.trial.Trial(study, trial._trial_id)


def frozen_trial(study: optuna.Study, trial_id: int) -> FrozenTrial:
    """The trial's current record in the storage (reports, user attributes, state)."""
    return study._storage.get_trial(trial_id)


def is_finished(study: optuna.Study, trial_id: int) -> bool:
    return frozen_trial(study, trial_id).state.is_finished()


def set_trial_attr(study: optuna.Study, trial_id: int, key: str, value: Any) -> None:
    """A user attribute of any trial by id, without a handle on it."""
    study._storage.set_trial_user_attr(trial_id, key, value)


def set_trial_system_attr(study: optuna.Study, trial_id: int, key: str, value: Any) -> None:
    study._storage.set_trial_system_attr(trial_id, key, value)


def trial_system_attrs(study: optuna.Study, trial_id: int) -> dict[str, Any]:
    return study._storage.get_trial_system_attrs(trial_id)


# ---- heartbeats (heartbeat.py): RDB storages only ---------------------------------------


def heartbeat_interval(study: optuna.Study) -> int | None:
    """The storage's heartbeat interval (s), None when it has no heartbeats (a journal)."""
    return getattr(study._storage, "get_heartbeat_interval", lambda: None)()


def record_heartbeat(study: optuna.Study, trial_id: int) -> None:
    study._storage.record_heartbeat(trial_id)


def stale_trials(study: optuna.Study) -> list[int]:
    """Ids of the running trials whose heartbeat is older than the grace period."""
    return list(study._storage._get_stale_trial_ids(study._study_id))


def grace_period(study: optuna.Study) -> int | None:
    storage = study._storage
    return getattr(getattr(storage, "_backend", storage), "grace_period", None)


def trial_number(study: optuna.Study, trial_id: int) -> int:
    return study._storage.get_trial_number_from_id(trial_id)


def record_outcome(study: optuna.Study, trial_id: int, result: TrialResult) -> None:
    """Store a finished trial's outcome and tell Optuna its final state and score."""
    try:
        _set_outcome(study, trial_id, result)
    except optuna.exceptions.UpdateFinishedTrialError:
        # Another worker failed it as stale (this worker's heartbeat stopped for too long).
        logger.warning("trial id %d was already finished by another worker: kept", trial_id)
        return
    state = _OPTUNA_STATES[result.state]
    number = trial_number(study, trial_id)
    values = result.score if state == TrialState.COMPLETE else None
    study.tell(number, values, state=state, skip_if_finished=True)


def _set_outcome(study: optuna.Study, trial_id: int, result: TrialResult) -> None:
    study._storage.set_trial_user_attr(trial_id, OUTCOME_ATTR, result.to_record())
    if result.interrupted:
        study._storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)


def fail_lost_trial(study: optuna.Study, trial_id: int, result: TrialResult) -> bool:
    """Store the outcome of a trial whose worker is lost and fail it (no `tell`: it is not
    this worker's); False when it was finished already (by another worker, or itself)."""
    try:
        _set_outcome(study, trial_id, result)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return study._storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def counts_against_budget(trial: FrozenTrial) -> bool:
    """Finished trials use the budget, except those interrupted by a stopped controller
    or lost with a dead worker (their place goes to the next trial)."""
    if trial.state in (TrialState.RUNNING, TrialState.WAITING):
        return False
    return not trial.user_attrs.get(INTERRUPTED_ATTR, False)


def running_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def budget_used(study: optuna.Study) -> int:
    """Trials that use the budget: finished ones that count, plus every running one (of
    any worker). Read under `budget_lock` so that two workers never both take the last."""
    trials = study.get_trials(deepcopy=False)
    return sum(counts_against_budget(t) or t.state == TrialState.RUNNING for t in trials)


@contextlib.contextmanager
def budget_lock(study: optuna.Study, reference: str) -> Iterator[None]:
    """Serialise 'count the budget, then ask a trial' between workers.

    PostgreSQL: a session advisory lock keyed by the study name; a journal file: an flock
    beside it (workers on one machine or one NFS mount); other RDBs (SQLite): none, they
    serve one machine where a single controller asks.
    """
    if is_postgresql(reference):
        with _advisory_lock(study):
            yield
    elif not is_url(reference):
        with _file_lock(Path(reference + BUDGET_LOCK_SUFFIX)):
            yield
    else:
        yield


@contextlib.contextmanager
def _advisory_lock(study: optuna.Study) -> Iterator[None]:
    import sqlalchemy

    storage = getattr(study._storage, "_backend", study._storage)
    key = zlib.crc32(f"automl:{study.study_name}".encode())
    with storage.engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
