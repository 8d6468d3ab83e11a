"""`automl.run_job`: `automl job create` from Python (the same engine function)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from automl._model import Model


@dataclass(frozen=True)
class JobResult:
    """What a finished job left: its status, best trial and run directory.

    `summary` is the run directory's `summary.json` object (every trial, as `automl job
    show --output json` prints it)."""

    name: str
    status: str
    run_dir: Path
    primary_metric: str | None
    best_score: float | None
    best_params: dict = field(default_factory=dict)
    error: str | None = None
    summary: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the job completed (`automl job create` exits 0)."""
        return self.status == "completed"

    @property
    def best_model_dir(self) -> Path | None:
        """The best trial's model package (None when no trial finished)."""
        folder = self.run_dir / "best_model"
        return folder if folder.is_dir() else None

    def load_model(self, *, device: str = "cpu", settings: dict | None = None) -> Model:
        """The best model, ready to predict (see `automl.load_model`)."""
        from automl._model import load_model
        from automl.engine.errors import AutomlError

        if self.best_model_dir is None:
            raise AutomlError(
                f"job {self.name} ({self.status}) has no best model in {self.run_dir}",
                hint=self.error or "see its trials' logs: automl job show " + self.name,
            )
        return load_model(self.best_model_dir, device=device, settings=settings)

    @classmethod
    def from_summary(cls, summary: dict) -> JobResult:
        best = summary.get("best_trial") or {}
        return cls(
            name=str(summary.get("name")),
            status=str(summary.get("status")),
            run_dir=Path(summary.get("run_dir") or "."),
            primary_metric=(summary.get("primary_metric") or {}).get("name"),
            best_score=best.get("score"),
            best_params=dict(best.get("params") or {}),
            error=summary.get("error"),
            summary=summary,
        )


def run_job(
    job: str | os.PathLike | Mapping[str, Any],
    *,
    name: str | None = None,
    run_dir: str | os.PathLike | None = None,
    **overrides: Any,
) -> JobResult:
    """Run a job as `automl job create` does: validate, prepare data, run its trials, keep
    the best model; return when it has finished.

    `job` is a job YAML file, or the same content as a dictionary (its relative data paths
    then resolve against the current folder). `overrides` are `--set` keys, dotted:
    `run_job("job.yml", **{"training_parameters.number_of_epochs": 1})`. `name` and
    `run_dir` are `--name` and `--run-dir`. An invalid job raises `automl.AutomlError`
    (a `ConfigError` listing every problem); a job whose trials failed returns a result
    whose `ok` is False.
    """
    from automl.engine.runs import submit_job

    sets = [format_override(key, value) for key, value in overrides.items()]
    target = None if run_dir is None else Path(run_dir)
    if isinstance(job, Mapping):
        with tempfile.TemporaryDirectory(prefix="automl-job-") as folder:
            path = write_job_file(job, Path(folder))
            summary = submit_job(path, sets, name=name, run_dir=target, base_dir=Path.cwd())
    else:
        summary = submit_job(Path(job), sets, name=name, run_dir=target)
    return JobResult.from_summary(summary)


def format_override(key: str, value: Any) -> str:
    """A keyword override as the `--set key=value` text the CLI passes (the value as
    JSON, which the override parser reads as the YAML it is)."""
    return f"{key}={json.dumps(value, default=_plain)}"


def _plain(value: Any) -> Any:
    """Values JSON lacks: sets as sorted lists, paths and the rest as text."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def write_job_file(job: Mapping[str, Any], folder: Path) -> Path:
    """A job dictionary as the job file the engine reads (JSON is YAML); the run
    directory keeps a copy, as it keeps every job file."""
    path = folder / "job.yml"
    path.write_text(json.dumps(dict(job), indent=2, default=_plain) + "\n", encoding="utf-8")
    return path
