"""One trial in its own process: `python -m automl.engine.training.trial SPEC.json`.

Reads spec.json (a `TrialSpec`, engine/trials/), trains, and writes into the trial folder:
metrics.jsonl (one line per evaluation), status.json (live, a `TrialStatus`), result.json
(at the end, a `TrialResult`), checkpoints/last.pt (resumable),
checkpoints/<epoch>_model.pt (with checkpoint_frequency), outputs/ (the model package of the
best epoch) and plots/. Exit codes: 0 complete or pruned, 1 failed, 130 canceled
(SIGTERM/SIGINT; last.pt saved). A trial whose controller dies stops as if canceled
(engine/utils/processes.py): `automl job resume` continues it from last.pt.

Started by torchrun (or srun) as several processes, the trial trains with DDP; rank 0 alone
evaluates, reports and writes the files above (engine/training/distributed.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from automl.engine.errors import AutomlError, TrialError
from automl.engine.metrics import primary_metric_key
from automl.engine.tracking import TrialTracker, open_trial_tracker
from automl.engine.training import distributed
from automl.engine.training.early_stopping import EarlyStopper
from automl.engine.training.hooks import EpochHooks
from automl.engine.training.loop import CanceledByUser, Device, seed_everything
from automl.engine.training.settings import CommonTrainingSettings
from automl.engine.training.status import StatusWriter
from automl.engine.training.trainers import Trainer, TrialInputs, trainer_for
from automl.engine.trials import (
    CANCELED,
    FAILED,
    RESULT_FILE,
    STATUS_FILE,
    TrialResult,
    TrialSpec,
)
from automl.engine.utils.files import read_jsonl
from automl.engine.utils.processes import stop_when_controller_gone

logger = logging.getLogger("automl.trial")

EXIT_OK, EXIT_FAILED, EXIT_CANCELED = 0, 1, 130


class CancelFlag:
    """Set by SIGTERM/SIGINT; the training loop checks it after every batch."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> CancelFlag:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


@dataclass
class EpochClock:
    """The seconds of the epochs this process ran, from each one's first training step to
    its end (evaluation and checkpoint included): TrialResult.epoch_s."""

    total_s: float = 0.0
    count: int = 0
    started: float | None = None

    def start(self) -> None:
        self.started = time.monotonic()

    def stop(self) -> None:
        if self.started is not None:
            self.total_s += time.monotonic() - self.started
            self.count += 1
            self.started = None

    def mean_s(self) -> float | None:
        return round(self.total_s / self.count, 3) if self.count else None


@dataclass
class TrialRun:
    """Paths, writers and progress of one trial; `inputs` is what its trainer reads."""

    spec: TrialSpec
    inputs: TrialInputs
    settings: CommonTrainingSettings
    trial_dir: Path
    status: StatusWriter
    primary_key: str
    stopper: EarlyStopper
    start: float = field(default_factory=time.monotonic)
    elapsed_before: float = 0.0
    epochs_completed: int = 0
    best_metrics: dict = field(default_factory=dict)
    best_details: dict = field(default_factory=dict)
    reporter: object = None
    trainer: Trainer | None = None  # of the task kind and model runtime (trainers.py)
    tracker: TrialTracker | None = None  # MLflow and TensorBoard (engine/tracking/), rank 0
    epoch_clock: EpochClock = field(default_factory=lambda: EpochClock())

    @property
    def elapsed_s(self) -> float:
        return round(self.elapsed_before + time.monotonic() - self.start, 3)

    @property
    def checkpoint_dir(self) -> Path:
        return self.trial_dir / "checkpoints"


def start_run(spec: TrialSpec) -> TrialRun:
    inputs = TrialInputs.from_spec(spec)
    trainer = trainer_for(inputs.task.name, inputs.model_name)
    settings = trainer.settings_class.from_parameters(inputs.training_parameters)
    trial_dir = inputs.trial_dir
    trial_dir.mkdir(parents=True, exist_ok=True)
    stopper = EarlyStopper(
        enabled=bool(settings.early_stopping),
        patience=settings.early_stopping_patience,
        delay=settings.early_stopping_delay,
    )
    run = TrialRun(
        spec=spec,
        inputs=inputs,
        settings=settings,
        trial_dir=trial_dir,
        status=StatusWriter(trial_dir / STATUS_FILE, settings.number_of_epochs),
        primary_key=primary_metric_key(inputs.primary_metric),
        stopper=stopper,
        trainer=trainer,
    )
    if not distributed.is_main():  # one set of files: rank 0 writes them
        run.status = SilentStatusWriter(run.status.path, settings.number_of_epochs)
        return run
    (trial_dir / RESULT_FILE).unlink(missing_ok=True)  # a resumed trial's old outcome
    run.status.update(force=True)
    return run


class SilentStatusWriter(StatusWriter):
    """The status of a rank other than 0: kept in memory, never written."""

    def update(self, force: bool = False, **fields) -> None:
        self.fields.update(fields)


def run_trial(spec: TrialSpec, cancel=lambda: False) -> TrialResult:
    """Train the trial of `spec` and return its result (also written to result.json).

    Raises CanceledByUser (after saving last.pt) when `cancel()` turns true, and any
    error of the run; the caller writes the failed/canceled result.
    """
    run = start_run(spec)
    try:
        state_name = train_trial(run, cancel)
    except CanceledByUser:
        finish(run, CANCELED, None)
        raise
    except BaseException as exc:
        known = worker_death_error(exc)
        finish(run, FAILED, error_message(known or exc))
        if known is not None:
            raise known from exc
        raise
    return finish(run, state_name, None)


def worker_death_error(exc: BaseException) -> TrialError | None:
    """A data-loading worker that died (the out-of-memory killer's usual victim: each holds
    batches) as one clear line instead of torch's traceback; None for any other error.
    torch says so itself, or, when the worker dies while handing a batch over, its socket
    breaks under the data loader (a connection error raised inside torch.utils.data)."""
    text = str(exc).strip() or type(exc).__name__
    said = isinstance(exc, RuntimeError) and "DataLoader worker (pid" in text
    if not (said or _broken_loader_pipe(exc)):
        return None
    return TrialError(
        f"a data-loading worker process died ({text.splitlines()[0]}), most likely killed "
        "by the system's out-of-memory killer",
        hint="lower training_parameters.number_of_workers or training_batch_size",
    )


def _broken_loader_pipe(exc: BaseException) -> bool:
    if not isinstance(exc, (ConnectionError, EOFError)):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return any("torch/utils/data" in frame.filename.replace("\\", "/") for frame in frames)


def train_trial(run: TrialRun, cancel) -> str:
    settings, spec = run.settings, run.spec
    torch.set_num_threads(spec.n_threads)
    seed_everything(settings.random_seed, fixed_input_size=run.inputs.task.fixed_input_size)
    device = Device.from_name(spec.device)
    if spec.study is not None and distributed.is_main():
        from automl.engine.training.study import StudyReporter

        run.reporter = StudyReporter(spec.study)
    if distributed.is_main():
        run.tracker = open_trial_tracker(spec)
    return run.trainer.fit(run.inputs, settings, EpochHooks(run), device, cancel)


def error_message(exc: BaseException) -> str:
    if isinstance(exc, AutomlError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def finish(run: TrialRun, state_name: str, error: str | None) -> TrialResult:
    """Plots, result.json and the final status (rank 0 only)."""
    if not distributed.is_main():
        return TrialResult(state_name, error=error)
    try:
        write_plots(run)
    except Exception:  # a chart must never turn a finished trial into a failed one
        logger.warning("could not draw plots:\n%s", traceback.format_exc())
    result = TrialResult(
        state_name,
        score=run.stopper.best_score,
        best_epoch=run.stopper.best_epoch,
        metrics=run.best_metrics,
        epochs_completed=run.epochs_completed,
        duration_s=run.elapsed_s,
        error=error,
        details=run.best_details,
        epoch_s=run.epoch_clock.mean_s(),
    )
    result.write(run.trial_dir)
    if run.tracker is not None:  # its plots and result.json are among the run's artifacts
        run.tracker.finish(state_name, run.best_metrics)
    run.status.update(force=True, state=state_name, eta_s=0.0 if state_name == "complete" else None)
    return result


def write_plots(run: TrialRun) -> None:
    path = run.trial_dir / "metrics.jsonl"
    if not path.is_file():
        return
    plots = run.trial_dir / "plots"
    run.inputs.task.plots(read_jsonl(path), run.best_details, plots, run.primary_key)
    write_prediction_grid(run.trial_dir / "outputs", run.inputs.valid_manifest, plots)


def write_prediction_grid(package: Path, valid_manifest: Path, plots: Path) -> None:
    """plots/predictions.png: the best epoch's model on the first validation images."""
    from automl.engine.data.images import load_image_rgb
    from automl.engine.data.manifest import read_manifest
    from automl.engine.metrics.prediction_plots import MAX_GRID_IMAGES, plot_prediction_grid
    from automl.engine.predict import Predictor

    if not (package / "model.pt").is_file():
        return
    records = read_manifest(valid_manifest)
    records = records[:: max(1, len(records) // MAX_GRID_IMAGES)][:MAX_GRID_IMAGES]  # spread
    images = [load_image_rgb(record["image_url"]) for record in records]
    results = Predictor.from_package(package).predict(images)
    truths = [r["label"] if isinstance(r.get("label"), str) else None for r in records]
    plot_prediction_grid(images, results, truths, plots / "predictions.png")


def configure_logging(log_verbosity: str | None = None) -> None:
    """Plain lines on stderr (the controller redirects them to trial.log), at the job's
    `log_verbosity` (Azure's levels; `not_set` and none given: info)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("automl")
    root.handlers[:] = [handler]
    root.setLevel(log_level(log_verbosity))
    root.propagate = False


def log_level(log_verbosity: str | None) -> int:
    """Azure's `log_verbosity` (debug ... critical; not_set: the default, info) as a level."""
    return logging.getLevelName((log_verbosity or "not_set").replace("not_set", "info").upper())


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 complete/pruned, 1 failed, 130 canceled)."""
    argv = sys.argv[1:] if argv is None else argv
    configure_logging()
    if len(argv) != 1:
        logger.error("usage: python -m automl.engine.training.trial SPEC.json")
        return 2
    cancel = CancelFlag().install()
    stop_when_controller_gone()  # SIGTERM (the cancel above) once the controller is gone
    spec: TrialSpec | None = None
    try:
        spec = TrialSpec.read(argv[0])
        configure_logging(spec.log_verbosity)
        if distributed.init_distributed(spec.device).rank > 0:
            logging.getLogger("automl").setLevel(logging.WARNING)  # rank 0 logs the epochs
        result = run_trial(spec, cancel)
    except CanceledByUser:
        logger.info("canceled: checkpoints/last.pt saved")
        return EXIT_CANCELED
    except Exception as exc:
        if isinstance(exc, AutomlError):
            logger.error("trial failed: %s", exc)
        else:
            logger.error("trial failed:\n%s", traceback.format_exc())
        if distributed.is_main():
            write_early_failure(spec, error_message(exc))
        return EXIT_FAILED
    finally:
        distributed.shutdown()
    logger.info("trial %s: %s %s", result.state, spec.primary_metric, result.score)
    return EXIT_OK


def preload() -> None:
    """The imports a trial makes after it starts, made ahead by a standby process while it
    waits for its trial (engine/sweep/standby.py). CUDA stays uninitialised: the trial's
    GPUs are chosen at hand-over."""
    import optuna  # noqa: F401  (the study reporter)
    import torchvision  # noqa: F401  (models, transforms: ~2 s with torch._dynamo)

    from automl.engine.metrics.plots import pyplot
    from automl.engine.training import study  # noqa: F401

    pyplot()
    with contextlib.suppress(ImportError):  # TensorBoard event files, when installed
        import torch.utils.tensorboard  # noqa: F401


def write_early_failure(spec: TrialSpec | None, message: str) -> None:
    """A failure before the run started (no training state yet) still leaves a
    result.json, when the spec could be read."""
    if spec is None or (spec.trial_dir / RESULT_FILE).exists():
        return
    TrialResult.failure(message, duration_s=0.0).write(spec.trial_dir)


def exit_now(code: int) -> None:
    """Leave without interpreter teardown: every file the trial wrote is already complete and
    closed, its data workers are stopped, and tearing down torch costs up to a second that
    the job (and the next queued trial) would otherwise wait for."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
