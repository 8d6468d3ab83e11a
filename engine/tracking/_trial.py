"""A trial's side of tracking: its nested MLflow run and its TensorBoard event files.

The trial process opens it from its spec (`open_trial_tracker`), the epoch hooks call
`log_epoch` after every evaluation, and the trial calls `finish` once, after its plots.
The nested run's id is kept in trial_dir/mlflow_run.json, so a resumed trial logs on into
the same run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from automl.engine.tracking._records import epoch_metrics, param_values, prefixed_metrics
from automl.engine.tracking._settings import (
    TRACKING_URI_ENV,
    TrackingGuard,
    import_mlflow,
    prepare_store,
)
from automl.engine.tracking._tensorboard import EventWriter
from automl.engine.trials.storage_url import redact_url

logger = logging.getLogger("automl.tracking")

RUN_FILE = "mlflow_run.json"
ARTIFACT_FILES = ("metrics.jsonl", "result.json", "spec.json")
# a trial's final state -> MLflow's run status (a pruned trial finished: it was judged)
RUN_STATUS = {"complete": "FINISHED", "pruned": "FINISHED", "canceled": "KILLED"}


def trial_uri(reference: str) -> str:
    """The real store URI: MLFLOW_TRACKING_URI when the spec holds its redacted form."""
    real = os.environ.get(TRACKING_URI_ENV)
    if real and redact_url(real) == redact_url(reference):
        return real
    return reference


class TrialTracker:
    """What a trial logs; every part is optional (no tracking ref, no mlflow, no
    tensorboard) and every call is safe."""

    def __init__(self, trial_dir: Path, client=None, run_id: str | None = None) -> None:
        self.trial_dir = Path(trial_dir)
        self.client, self.run_id = client, run_id
        self.guard = TrackingGuard("trial")
        self.events = EventWriter.open(self.trial_dir)

    @property
    def logs_to_mlflow(self) -> bool:
        return self.client is not None and self.run_id is not None and not self.guard.off

    def log_epoch(self, record: dict) -> None:
        """One metrics.jsonl record, at step = its epoch."""
        metrics, epoch = epoch_metrics(record), int(record["epoch"])
        if self.events is not None:
            self.events.log(metrics, epoch)
        if self.logs_to_mlflow:
            self.guard.call(self._log_metrics, metrics, epoch)

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(name, value, now, step) for name, value in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch, synchronous=True)

    def finish(self, state: str, best_metrics: dict | None = None) -> None:
        """The trial ended in `state`: its plots and files as artifacts, its run ended."""
        if self.events is not None:
            self.events.close()
        if self.logs_to_mlflow:
            self.guard.call(self._finish_run, state, best_metrics or {})

    def _finish_run(self, state: str, best_metrics: dict) -> None:
        client, run_id = self.client, self.run_id
        self._log_metrics(prefixed_metrics(best_metrics, "best/"), 0)
        for name in ARTIFACT_FILES:
            if (self.trial_dir / name).is_file():
                client.log_artifact(run_id, str(self.trial_dir / name))
        if (self.trial_dir / "plots").is_dir():
            client.log_artifacts(run_id, str(self.trial_dir / "plots"), "plots")
        client.set_tag(run_id, "automl.state", state)
        client.set_terminated(run_id, RUN_STATUS.get(state, "FAILED"))


def open_trial_tracker(spec) -> TrialTracker:
    """The tracker of the trial of `spec` (a TrialSpec): MLflow when its spec has a
    tracking reference (and mlflow imports), TensorBoard when installed."""
    ref = spec.tracking
    if ref is None:
        return TrialTracker(spec.trial_dir)
    mlflow = import_mlflow()
    if mlflow is None:
        return TrialTracker(spec.trial_dir)
    tracker = TrialTracker(spec.trial_dir)
    uri = trial_uri(ref.uri)
    prepare_store(uri)
    client = tracker.guard.call(mlflow.MlflowClient, uri)
    run_id = tracker.guard.call(_trial_run, client, spec) if client is not None else None
    tracker.client, tracker.run_id = client, run_id
    return tracker


def _trial_run(client, spec) -> str:
    """The trial's nested run: continued on resume, else created with its parameters."""
    run_file = Path(spec.trial_dir) / RUN_FILE
    if spec.resume and run_file.is_file():
        run_id = json.loads(run_file.read_text(encoding="utf-8"))["run_id"]
        client.update_run(run_id, status="RUNNING")
        return run_id
    ref = spec.tracking
    number = spec.trial_number
    tags = {"mlflow.parentRunId": ref.parent_run_id, "automl.trial": str(number)}
    name = f"{spec.job_name or 'job'}-trial-{number}"
    run = client.create_run(ref.experiment_id, run_name=name, tags=tags)
    run_id = run.info.run_id
    _log_params(client, run_id, spec.training_parameters)
    run_file.write_text(json.dumps({"run_id": run_id}), encoding="utf-8")
    return run_id


def _log_params(client, run_id: str, parameters: dict) -> None:
    from mlflow.entities import Param

    values = sorted(param_values(parameters).items())
    for start in range(0, len(values), 100):  # MLflow takes at most 100 per batch
        params = [Param(key, value) for key, value in values[start : start + 100]]
        client.log_batch(run_id, params=params, synchronous=True)
