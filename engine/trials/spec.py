"""`trials/<n>/spec.json`: everything one trial needs to run alone, and nothing else.

The sweep controller builds a `TrialSpec` and writes it; the trial process
(`python -m automl.engine.training.trial spec.json`, or torchrun's ranks of it) reads it back
with `TrialSpec.read`. Neither side reads the JSON by hand: the shape is defined here, with
its `version` (1, the shape every automl release has written so far).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from automl.engine.errors import TrialError
from automl.engine.trials._versioned import check_version, parse_json, require_keys
from automl.engine.utils.files import write_json_atomic

SPEC_FILE = "spec.json"
SPEC_VERSION = 1
TRACKING_VERSION = 1  # the `tracking` object's own version (TrackingRef)
METRIC_GOAL = "maximize"  # every primary metric is maximized (losses are not primary)
REQUIRED_KEYS = ("task", "trial_dir", "primary_metric", "training_parameters", "data", "device")


@dataclass(frozen=True)
class TrialData:
    """The prepared data of the job: checked manifests (absolute paths) and the labels."""

    train_manifest: Path
    valid_manifest: Path
    labels: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_manifest": str(self.train_manifest),
            "valid_manifest": str(self.valid_manifest),
            "labels": list(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping, where: str) -> TrialData:
        require_keys(data, ("train_manifest", "valid_manifest", "labels"), what="data", where=where)
        return cls(
            Path(data["train_manifest"]), Path(data["valid_manifest"]), tuple(data["labels"])
        )


@dataclass(frozen=True)
class StudyRef:
    """Where the trial reports its scores (engine/training/study.py): the study's storage
    (a journal path, or a redacted URL whose real form the trial gets from its environment:
    storage_url.STORAGE_ENV), its name, the trial's id in it, and the pruner to rebuild
    (`{"class": dotted name, "kwargs": {...}}`, None: nothing is pruned)."""

    storage: str
    study_name: str
    trial_id: int
    pruner: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "storage": self.storage,
            "study_name": self.study_name,
            "trial_id": self.trial_id,
            "pruner": self.pruner,
        }

    @classmethod
    def from_dict(cls, data: Mapping, where: str) -> StudyRef:
        require_keys(data, ("storage", "study_name", "trial_id"), what="study", where=where)
        pruner = data.get("pruner")
        return cls(str(data["storage"]), str(data["study_name"]), int(data["trial_id"]), pruner)


@dataclass(frozen=True)
class TrackingRef:
    """Where the trial logs its MLflow run (engine/tracking/): the store (redacted: the real
    URI, credentials included, reaches the trial as MLFLOW_TRACKING_URI in its environment),
    the experiment, and the job's run, the parent of the trial's nested run. Versioned on
    its own: a spec.json written before tracking existed has no `tracking` key at all."""

    uri: str
    experiment_id: str
    parent_run_id: str
    version: ClassVar[int] = TRACKING_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "uri": self.uri,
            "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_run_id,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TrackingRef:
        what = "tracking reference"
        check_version(data, what=what, where=where, current=TRACKING_VERSION, legacy=False)
        require_keys(data, ("uri", "experiment_id", "parent_run_id"), what=what, where=where)
        return cls(str(data["uri"]), str(data["experiment_id"]), str(data["parent_run_id"]))


@dataclass(frozen=True)
class TrialSpec:
    """One trial's instructions (spec.json).

    `training_parameters`: every hyperparameter resolved (defaults filled); `params`: the
    sampled ones only; `resume`: continue from checkpoints/last.pt (recovery.py);
    `n_threads`: CPU threads for torch; `device`: "cuda" or "cpu"; `tracking`: the MLflow
    run to log into (optional: older spec.json files have none); `finish_by`: a Unix time
    the trial's last epoch should end by (AutoMode with a timeout: the trial shortens its
    schedule to it, engine/training/hooks.py; None: the schedule as set).
    """

    task: str
    trial_dir: Path
    primary_metric: str
    training_parameters: dict
    data: TrialData
    device: str = "cpu"
    n_threads: int = 1
    job_name: str | None = None
    run_dir: Path | None = None
    trial_number: int | None = None
    log_verbosity: str | None = None
    params: dict = field(default_factory=dict)
    resume: bool = False
    study: StudyRef | None = None
    tracking: TrackingRef | None = None  # MLflow tracking is off without it
    finish_by: float | None = None
    version: ClassVar[int] = SPEC_VERSION

    @property
    def model_name(self) -> str | None:
        return self.training_parameters.get("model_name")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of spec.json (key order as every release wrote it; `tracking`
        and `finish_by` only when set, so such a trial's spec is the shape older releases
        read)."""
        data = {
            "version": self.version,
            "job_name": self.job_name,
            "run_dir": None if self.run_dir is None else str(self.run_dir),
            "trial_number": self.trial_number,
            "trial_dir": str(self.trial_dir),
            "task": self.task,
            "primary_metric": {"name": self.primary_metric, "goal": METRIC_GOAL},
            "log_verbosity": self.log_verbosity,
            "training_parameters": self.training_parameters,
            "params": self.params,
            "data": self.data.to_dict(),
            "device": self.device,
            "n_threads": self.n_threads,
            "resume": self.resume,
            "study": None if self.study is None else self.study.to_dict(),
        }
        if self.tracking is not None:
            data["tracking"] = self.tracking.to_dict()
        if self.finish_by is not None:
            data["finish_by"] = self.finish_by
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = SPEC_FILE) -> TrialSpec:
        """Read a spec.json object; TrialError (naming `where`) for any other version or
        a missing key."""
        check_version(data, what="trial spec", where=where, current=SPEC_VERSION, legacy=False)
        require_keys(data, REQUIRED_KEYS, what="trial spec", where=where)
        try:
            return cls(**_spec_fields(data, where))
        except (TypeError, ValueError, AttributeError) as error:
            raise TrialError(
                f"{where}: malformed trial spec ({error})",
                hint="spec files are written by automl itself: run the job again to write it",
            ) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str, where: str = SPEC_FILE) -> TrialSpec:
        return cls.from_dict(parse_json(text, where), where)

    def write(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> TrialSpec:
        """spec.json at `path` (OSError when it cannot be read)."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"), str(path))


def _spec_fields(data: Mapping, where: str) -> dict[str, Any]:
    metric = data["primary_metric"]
    study = data.get("study")
    run_dir = data.get("run_dir")
    tracking = data.get("tracking")  # absent from specs written before tracking existed
    return {
        "task": str(data["task"]),
        "trial_dir": Path(data["trial_dir"]),
        "primary_metric": str(metric["name"] if isinstance(metric, Mapping) else metric),
        "training_parameters": dict(data["training_parameters"]),
        "data": TrialData.from_dict(data["data"], where),
        "device": str(data["device"]),
        "n_threads": max(1, int(data.get("n_threads") or 1)),
        "job_name": data.get("job_name"),
        "run_dir": None if run_dir is None else Path(run_dir),
        "trial_number": data.get("trial_number"),
        "log_verbosity": data.get("log_verbosity"),
        "params": dict(data.get("params") or {}),
        "resume": bool(data.get("resume")),
        "study": None if not study else StudyRef.from_dict(study, where),
        "tracking": None if not tracking else TrackingRef.from_dict(tracking, where),
        "finish_by": None if data.get("finish_by") is None else float(data["finish_by"]),
    }
