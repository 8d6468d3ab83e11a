"""The trial contract: what crosses the process boundary between the sweep controller and a
trial process, read and written only through these types and helpers.

- `TrialSpec` (spec.json): what the controller asks a trial to do;
- `TrialStatus` (status.json): the live state the trial shows while it runs;
- `TrialResult` (result.json): the trial's outcome, also the one type of that outcome in
  the study and the job record;
- launch helpers (launch.py): the trial module, torchrun command, slot variables and a
  clean environment;
- storage URLs without secrets (storage_url.py): what a spec may name as the study.

Both sides import this package; it imports neither (nor optuna, nor torch).
"""

from automl.engine.trials.launch import (
    TRIAL_MODULE,
    clean_launcher_env,
    cpu_threads_per_slot,
    slot_variables,
    torchrun_command,
    trial_target,
)
from automl.engine.trials.result import (
    CANCELED,
    COMPLETE,
    FAILED,
    PRUNED,
    RESULT_FILE,
    RUNNING,
    SCORED_STATES,
    STATUS_FILE,
    STOPPED_BY_BUDGET,
    TIMEOUT,
    TrialResult,
    TrialStatus,
)
from automl.engine.trials.spec import SPEC_FILE, StudyRef, TrackingRef, TrialData, TrialSpec

__all__ = [
    "CANCELED",
    "COMPLETE",
    "FAILED",
    "PRUNED",
    "RESULT_FILE",
    "RUNNING",
    "SCORED_STATES",
    "SPEC_FILE",
    "STATUS_FILE",
    "STOPPED_BY_BUDGET",
    "TIMEOUT",
    "TRIAL_MODULE",
    "StudyRef",
    "TrackingRef",
    "TrialData",
    "TrialResult",
    "TrialSpec",
    "TrialStatus",
    "clean_launcher_env",
    "cpu_threads_per_slot",
    "slot_variables",
    "torchrun_command",
    "trial_target",
]
