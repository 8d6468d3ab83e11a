"""The per-epoch duties of a trial, whoever runs its epochs.

Our own loop (`loop.fit_epochs`) and Ultralytics' (the YOLO callbacks in `_yolo.py`) both
call one `EpochHooks`: live status per batch, then after an evaluation metrics.jsonl, the
best epoch's model package and the pruning report to the study, then the
`checkpoint_frequency` file and the epoch's log line. Early stopping is the run's
`stopper`, asked through `stop_requested`. In a distributed trial only rank 0 evaluates
and writes files; every rank counts its epochs and keeps its (silent) status.

`run` is the trial runner's `TrialRun` (engine/training/trial.py): its settings, status
writer, early stopper, study reporter, trial folder and progress, and `inputs`, the
`TrialInputs` the trial was started with.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from automl.engine.models import write_model_package
from automl.engine.models.package import model_record, package_settings, save_torch_atomic
from automl.engine.training import distributed
from automl.engine.training.optim import epochs_by_deadline
from automl.engine.training.status import EtaEstimator
from automl.engine.utils.files import append_jsonl

if TYPE_CHECKING:
    from automl.engine.training.trainers import Evaluation

logger = logging.getLogger("automl.trial")
LATE_FRACTION = 0.75  # a fitted schedule is not lengthened after this share of it


def should_evaluate(epoch: int, settings) -> bool:
    """Every `evaluation_frequency` epochs (1-based), and always the last epoch."""
    return epoch % settings.evaluation_frequency == 0 or epoch == settings.number_of_epochs


class EpochHooks:
    """What happens around each epoch of one trial (see the module docstring)."""

    def __init__(self, run) -> None:
        self.run = run
        self.eta = EtaEstimator(run.settings.number_of_epochs)
        self.steps_before = 0
        self.writes_files = distributed.is_main()
        self.speed: dict = {}  # the last epoch's training seconds and images/s, when measured
        self.planned_epochs = run.settings.number_of_epochs  # before any fit_to_deadline

    # ---- during an epoch -----------------------------------------------------------

    def begin_epoch(self) -> None:
        """A new epoch starts: its steps count on from the steps done so far."""
        self.steps_before = self.eta.steps_done
        self.run.epoch_clock.start()

    def on_step(
        self, epoch: int, step: int, n_steps: int, running_loss: Callable[[], float | None]
    ) -> None:
        """After batch `step` of `n_steps`: live status (the loss is read only when the
        status is due: it may sync with the device)."""
        self.eta.steps_done = self.steps_before + step
        status = self.run.status
        status.fields.update(epoch=epoch, step=step, n_steps=n_steps)
        if status.due():
            estimate = self.eta.estimate(epoch, step, n_steps, self.eta.steps_done)
            status.update(train_loss=running_loss(), eta_s=estimate)

    # ---- after an epoch --------------------------------------------------------------

    def should_evaluate(self, epoch: int) -> bool:
        """Every `evaluation_frequency` epochs (1-based), and always the last epoch."""
        return should_evaluate(epoch, self.run.settings)

    def record_evaluation(
        self,
        epoch: int,
        evaluation: Evaluation,
        model: nn.Module,
        labels: list[str],
        train_loss: float,
        lr: float,
    ) -> tuple[float, bool]:
        """metrics.jsonl, the best package when the score improved (or the latest when no
        score is computed), the pruning report; returns (score, pruned)."""
        run, score = self.run, evaluation.score
        record = {
            "epoch": epoch,
            "elapsed_s": run.elapsed_s,
            "lr": lr,
            "train": {"loss": train_loss, **self.speed},
            "valid": evaluation.metrics,
        }
        append_jsonl(run.trial_dir / "metrics.jsonl", record)
        if run.tracker is not None:  # MLflow and TensorBoard, at step = epoch
            run.tracker.log_epoch(record)
        if evaluation.keep_latest or run.stopper.update(epoch, score):
            self.save_best(model, labels, epoch, record["valid"], evaluation.details)
        pruned = run.reporter is not None and not math.isnan(score)
        return score, pruned and run.reporter.report(score, epoch)

    def save_best(self, model: nn.Module, labels: list[str], epoch: int, metrics, details):
        """The new best epoch: write outputs/ and remember its metrics and report."""
        run = self.run
        run.best_metrics = metrics
        write_model_package(
            run.trial_dir / "outputs",
            model,
            task=run.inputs.task.name,
            model_name=run.settings.model_name,
            labels=labels,
            training_parameters=run.inputs.training_parameters,
        )
        run.best_details = details(epoch)

    def finish_epoch(self, epoch: int, model: nn.Module, labels: list[str]) -> None:
        """Epoch `epoch` is done: count it; checkpoint_frequency writes `<epoch>_model.pt`."""
        self.run.epochs_completed = epoch
        self.run.epoch_clock.stop()
        frequency = self.run.settings.checkpoint_frequency
        if self.writes_files and frequency and not epoch % frequency:
            self.save_epoch_checkpoint(model, labels, epoch)

    def save_epoch_checkpoint(self, model: nn.Module, labels: list[str], epoch: int) -> None:
        """`<epoch>_model.pt` in the model.pt format."""
        run = self.run
        task, name = run.inputs.task.name, run.settings.model_name
        params = run.inputs.training_parameters
        settings = package_settings(task, name, labels, params)
        record = model_record(model, task, name, labels, settings, params)
        save_torch_atomic(record, run.checkpoint_dir / f"{epoch}_model.pt")

    def fit_to_deadline(self, epoch: int, scheduler) -> None:
        """AutoMode with a timeout (spec.finish_by): after epoch `epoch`, fewer epochs than
        planned when they would end past it at the pace so far (judged again after every
        epoch, never more than planned); the learning-rate schedule then ends with the new
        last epoch. One process only: the ranks of a group could disagree on the time."""
        from dataclasses import replace

        run = self.run
        finish_by = run.spec.finish_by
        if finish_by is None or distributed.current().world_size > 1:
            return
        planned = run.settings.number_of_epochs
        epochs = epochs_by_deadline(
            epoch, self.planned_epochs, finish_by - time.time(), run.epoch_clock.mean_s()
        )
        epochs = self.planned_epochs if epochs is None else epochs
        if epochs == planned or (epochs > planned and epoch >= LATE_FRACTION * planned):
            return  # late in a schedule, lengthening it would lift the annealed rate again
        run.settings = replace(run.settings, number_of_epochs=epochs)
        scheduler.set_epochs(epochs)
        self.eta.n_epochs = epochs
        run.status.update(force=True, n_epochs=epochs)
        logger.info(
            "the job's budget ends in %.0f s: %d epochs in all instead of %d, the "
            "learning-rate schedule ending with the last",
            max(0.0, finish_by - time.time()),
            epochs,
            planned,
        )

    def log_epoch(self, epoch: int, train_loss: float, score: float | None) -> None:
        """The epoch's status (forced) and its log line."""
        run, eta = self.run, self.eta
        best = run.stopper.best_score
        n_steps = run.status.fields["n_steps"]
        run.status.update(
            force=True,
            epoch=epoch,
            train_loss=train_loss,
            last_score=score if score is None or not math.isnan(score) else None,
            evaluated_epoch=epoch if score is not None else run.status.fields["evaluated_epoch"],
            best_score=best,
            eta_s=eta.estimate(epoch, n_steps, n_steps, eta.steps_done),
        )
        shown = "-" if score is None else f"{score:.4f}"
        logger.info(
            "epoch %d/%d: train loss %.4f, %s %s (best %s)%s",
            epoch,
            run.settings.number_of_epochs,
            train_loss,
            run.primary_key,
            shown,
            "-" if best is None else f"{best:.4f}",
            f", {self.speed['images_per_s']} images/s" if self.speed else "",
        )

    @property
    def stop_requested(self) -> bool:
        """Early stopping says the trial has stopped improving."""
        return self.run.stopper.should_stop
