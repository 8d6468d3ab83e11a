"""The job's side of tracking: its MLflow run, the parent of every trial's nested run.

The controller that creates the job opens the run (`open_job_tracker`) and stores
`record()` with the study; a resumed job and workers on other machines attach to the same
run from that record. When the job ends, `finish` logs summary.json, leaderboard.csv, the
sweep charts and the best model (_model.py), and ends the run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from automl.engine.tracking._records import param_values, prefixed_metrics
from automl.engine.tracking._settings import (
    TrackingGuard,
    artifact_location,
    experiment_name,
    import_mlflow,
    prepare_store,
)
from automl.engine.trials.spec import TrackingRef
from automl.engine.trials.storage_url import redact_url

logger = logging.getLogger("automl.tracking")

JOB_ARTIFACTS = ("summary.json", "leaderboard.csv", "job.yml", "job.resolved.yml")
# the job's final status -> MLflow's run status
RUN_STATUS = {"completed": "FINISHED", "canceled": "KILLED"}


class JobTracker:
    """The job's MLflow run as one controller sees it; every call is safe."""

    def __init__(self, uri: str, mlflow) -> None:
        self.uri, self.mlflow = uri, mlflow
        self.guard = TrackingGuard("job")
        self.client = None
        self.experiment_id: str | None = None
        self.run_id: str | None = None

    @property
    def active(self) -> bool:
        return self.run_id is not None and not self.guard.off

    def start(self, experiment: str | None, run_name: str, params: dict, tags: dict) -> None:
        """A new run for the job, in `experiment` (created when missing)."""
        self.guard.call(self._start, experiment_name(experiment), run_name, params, tags)

    def _start(self, experiment: str, run_name: str, params: dict, tags: dict) -> None:
        from mlflow.entities import Param

        self.client = self.mlflow.MlflowClient(self.uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self._create(experiment)
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        values = sorted(param_values(params).items())
        for start in range(0, len(values), 100):  # MLflow takes at most 100 per batch
            chunk = [Param(k, v) for k, v in values[start : start + 100]]
            self.client.log_batch(self.run_id, params=chunk, synchronous=True)
        logger.info("MLflow: job run %s in experiment %r (%s)", self.run_id, experiment, self.shown)

    def _create(self, experiment: str) -> str:
        location = artifact_location(self.uri, experiment)
        return self.client.create_experiment(experiment, artifact_location=location)

    def attach(self, record: dict) -> None:
        """Continue the run of `record()` (a resumed job, a worker on another machine)."""
        self.guard.call(self._attach, record)

    def _attach(self, record: dict) -> None:
        self.client = self.mlflow.MlflowClient(self.uri)
        self.experiment_id, self.run_id = str(record["experiment_id"]), str(record["run_id"])
        self.client.update_run(self.run_id, status="RUNNING")

    @property
    def shown(self) -> str:
        return redact_url(self.uri) or ""

    def record(self) -> dict | None:
        """What the study keeps so that every controller of the job logs into this run."""
        if not self.active:
            return None
        return {"uri": self.shown, "experiment_id": self.experiment_id, "run_id": self.run_id}

    def trial_ref(self) -> TrackingRef | None:
        """The spec's tracking field of a trial of this job (None: tracking is off)."""
        if not self.active:
            return None
        return TrackingRef(self.shown, self.experiment_id, self.run_id)

    def trial_environment(self) -> dict[str, str]:
        """What a trial's environment needs: the real URI (the spec holds the redacted)."""
        return {"MLFLOW_TRACKING_URI": self.uri} if self.active else {}

    def log_trial(self, number: int, score: float | None) -> None:
        """A finished trial's score on the job's run, at step = its number."""
        if self.active and score is not None:
            self.guard.call(self._log_metrics, {"trial_score": score}, number)

    def _log_metrics(self, values: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(name, value, now, step) for name, value in prefixed_metrics(values, "").items()
        ]
        self.client.log_batch(self.run_id, metrics=metrics, synchronous=True)

    def end_failed(self) -> None:
        """The controller stopped on an error: the run ends as failed."""
        if self.active:
            self.guard.call(self.client.set_terminated, self.run_id, "FAILED")

    def finish(self, run_dir: Path, summary: dict, *, ends_run: bool = True) -> None:
        """The job's record, charts and best model on its run; the run ended with the
        job's status unless other workers still run trials (`ends_run` False)."""
        if self.active:
            self.guard.call(self._finish, Path(run_dir), summary, ends_run)

    def _finish(self, run_dir: Path, summary: dict, ends_run: bool) -> None:
        from automl.engine.tracking._model import log_best_model

        best = summary.get("best_trial") or {}
        if best.get("score") is not None:
            self._log_metrics({"best_score": best["score"]}, int(best["number"]))
            self.client.set_tag(self.run_id, "automl.best_trial", str(best["number"]))
        for name in JOB_ARTIFACTS:
            if (run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        if (run_dir / "plots").is_dir():
            self.client.log_artifacts(self.run_id, str(run_dir / "plots"), "plots")
        if not ends_run:  # another worker's trials still run: the last one ends it
            return
        if best:
            log_best_model(self, run_dir / "trials" / str(best["number"]), summary.get("task"))
        status = str(summary.get("status"))
        self.client.set_tag(self.run_id, "automl.status", status)
        self.client.set_terminated(self.run_id, RUN_STATUS.get(status, "FAILED"))


def open_job_tracker(uri: str | None) -> JobTracker | None:
    """A tracker for `uri` (None: tracking off, or mlflow missing: one warning)."""
    if not uri:
        return None
    mlflow = import_mlflow()
    if mlflow is None:
        return None
    prepare_store(uri)
    return JobTracker(uri, mlflow)
