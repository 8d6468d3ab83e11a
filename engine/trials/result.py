"""A trial's outcome (`result.json`, `TrialResult`) and its live state (`status.json`,
`TrialStatus`).

A trial's outcome has one type from the trial process to the job record:
- the trial writes its `TrialResult` to result.json (`write`);
- the controller reads it (`read`), and judges the final state (a trial it stopped, one
  that died without a result: engine/sweep/outcome.py), giving another `TrialResult`;
- that is stored with the trial in the Optuna study (`to_record`/`from_dict`), so any
  machine rebuilds the job's record from the study alone;
- and becomes the trial's row of summary.json (engine/sweep/summary.py `summary_row`).

Results written before the contract had versions (no `version` key) read as version 0 of
the same shape. Fields added within a version are optional with a default (`stopped_by`):
older results read without them, and an older reader ignores them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from automl.engine.errors import TrialError
from automl.engine.trials._versioned import check_version, parse_json
from automl.engine.utils.files import write_json_atomic

RESULT_FILE = "result.json"
STATUS_FILE = "status.json"
RESULT_VERSION = 1
STATUS_VERSION = 1

# A trial's states. The trial itself ends complete, pruned, failed or canceled; the
# controller adds timeout (trial_timeout_minutes); a trial not finished yet is running.
COMPLETE, PRUNED, FAILED = "complete", "pruned", "failed"
CANCELED, TIMEOUT, RUNNING = "canceled", "timeout", "running"
# What stopped a trial that still counts as complete: the job's budget (timeout_minutes)
# ended it after at least one evaluated epoch; its best epoch is its result.
STOPPED_BY_BUDGET = "budget"
SCORED_STATES = (COMPLETE, PRUNED)  # a finished trial that counts (its score ranks)
TRIAL_STATES = (COMPLETE, PRUNED, FAILED, CANCELED, TIMEOUT, RUNNING)


@dataclass(frozen=True)
class TrialResult:
    """A trial's outcome.

    `score`: the best primary-metric value; `best_epoch` its epoch; `metrics`: that epoch's
    validation metrics; `details`: its report (confusion matrix, per-class values: in
    result.json only, not in the study); `interrupted`: stopped by its controller (a
    cancel, a lost worker), so its place in max_trials goes to the next trial;
    `stopped_by`: set on a complete trial that did not run all its epochs because the job's
    budget ran out (STOPPED_BY_BUDGET); `epoch_s`: the mean seconds of the epochs this
    trial's process ran (training, evaluation, checkpoint: start-up and finish left out),
    which AutoMode's budget planning sizes a final run by (engine/sweep/fidelity.py).
    """

    state: str
    score: float | None = None
    best_epoch: int | None = None
    metrics: dict = field(default_factory=dict)
    epochs_completed: int = 0
    duration_s: float | None = None
    error: str | None = None
    details: dict = field(default_factory=dict)
    interrupted: bool = False
    stopped_by: str | None = None
    epoch_s: float | None = None
    version: ClassVar[int] = RESULT_VERSION

    @classmethod
    def failure(cls, error: str, *, interrupted: bool = False, **known: Any) -> TrialResult:
        """A failed trial (`interrupted`: its place in max_trials given back)."""
        return cls(FAILED, error=error, interrupted=interrupted, **known)

    @property
    def is_scored(self) -> bool:
        return self.state in SCORED_STATES

    def judged(self, state: str, error: str | None, **changes: Any) -> TrialResult:
        """This result with the state the controller settled on (and its error)."""
        return replace(self, state=state, error=error, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of result.json (`stopped_by` and `epoch_s` only when set: a
        result without them reads the same in every release)."""
        data = {"version": self.version, **asdict(self)}
        for optional in ("stopped_by", "epoch_s"):
            if data[optional] is None:
                del data[optional]
        return data

    def to_record(self) -> dict[str, Any]:
        """What the study keeps of it: all but the details."""
        record = self.to_dict()
        del record["details"]
        return record

    @classmethod
    def from_dict(cls, data: Any, where: str = RESULT_FILE) -> TrialResult:
        """Read result.json's object, or a study's record of it (TrialError when it is not
        one, or of a newer version)."""
        check_version(data, what="trial result", where=where, current=RESULT_VERSION, legacy=True)
        if data.get("state") not in TRIAL_STATES:
            raise TrialError(
                f"{where}: trial result state {data.get('state')!r} is none of "
                f"{', '.join(TRIAL_STATES)}",
                hint="result files are written by automl itself: rerun the trial",
            )
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["metrics"] = dict(values.get("metrics") or {})
        values["details"] = dict(values.get("details") or {})
        values["epochs_completed"] = int(values.get("epochs_completed") or 0)
        values["interrupted"] = bool(values.get("interrupted"))
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_json(cls, text: str, where: str = RESULT_FILE) -> TrialResult:
        return cls.from_dict(parse_json(text, where), where)

    def write(self, trial_dir: str | Path) -> None:
        write_json_atomic(Path(trial_dir) / RESULT_FILE, self.to_dict())

    @classmethod
    def read(cls, trial_dir: str | Path) -> TrialResult | None:
        """The trial's result.json; None when it has none (yet). A file that is not a
        result raises TrialError."""
        path = Path(trial_dir) / RESULT_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None
        return cls.from_json(text, str(path))


@dataclass(frozen=True)
class TrialStatus:
    """status.json: the live state of a running trial (progress displays, `job show`).

    Rewritten by the trial at most every 0.5 s (engine/training/status.py); `updated_at`
    (epoch seconds) tells a reader whether anything changed.
    """

    state: str = RUNNING
    pid: int | None = None
    epoch: int = 0
    n_epochs: int = 0
    step: int = 0
    n_steps: int = 0
    train_loss: float | None = None
    last_score: float | None = None
    evaluated_epoch: int | None = None
    best_score: float | None = None
    eta_s: float | None = None
    updated_at: float | None = None
    version: ClassVar[int] = STATUS_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any, where: str = STATUS_FILE) -> TrialStatus:
        check_version(data, what="trial status", where=where, current=STATUS_VERSION, legacy=True)
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def read(cls, trial_dir: str | Path) -> TrialStatus | None:
        """The trial's status.json; None when it has none yet or it cannot be read (a
        display never fails a job)."""
        path = Path(trial_dir) / STATUS_FILE
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (OSError, ValueError, TrialError):
            return None


def read_result_or_error(trial_dir: str | Path) -> tuple[TrialResult | None, str | None]:
    """(result, None), (None, None) without a result.json, or (None, why it is unreadable)."""
    try:
        return TrialResult.read(trial_dir), None
    except TrialError as error:
        return None, str(error)
