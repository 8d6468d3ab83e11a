"""A stand-in trial runner honouring the spec contract, for fast controller tests.

Run as `python fake_trial.py SPEC.json`. It "trains" `number_of_epochs` epochs of
FAKE_TRIAL_EPOCH_S seconds each; the score of epoch e is quality(params) * (1 - 0.5**e), a
deterministic function of the hyperparameters (best learning rate 0.01). It writes
status.json, metrics.jsonl, result.json and a fake outputs/ package, reports each epoch to
the study with the spec's pruner and stops when pruned, exits 130 on SIGTERM.

Switches (environment): FAKE_TRIAL_FAIL=1 raises; FAKE_TRIAL_IGNORE_PRUNE=1 never stops by
itself (so the controller has to); FAKE_TRIAL_HANG=1 sleeps without end after epoch 1.
Like the real trial it stops (SIGTERM) when its controller is gone.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import sys
import time
from pathlib import Path


def quality(params: dict) -> float:
    lr = float(params.get("learning_rate", 0.01))
    score = 0.9 - 0.15 * abs(math.log10(lr) - math.log10(0.01))
    if params.get("model_name") == "resnet18":
        score -= 0.05
    return max(0.05, min(0.99, score))


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def preload() -> None:
    """What a standby process imports ahead, as the real trial's preload() does."""
    import optuna  # noqa: F401


def open_reporter(study_spec: dict | None):
    if not study_spec:
        return None
    import optuna

    pruner = optuna.pruners.NopPruner()
    if study_spec.get("pruner"):
        module, _, name = study_spec["pruner"]["class"].rpartition(".")
        pruner = getattr(importlib.import_module(module), name)(**study_spec["pruner"]["kwargs"])
    storage = study_spec["storage"]
    if "://" not in storage:
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(storage))
    study = optuna.load_study(study_name=study_spec["study_name"], storage=storage, pruner=pruner)
    return optuna.trial.Trial(study, study_spec["trial_id"])


def result(state: str, best, best_epoch, epochs: int, started: float, error=None) -> dict:
    return {
        "state": state,
        "score": best,
        "best_epoch": best_epoch,
        "metrics": {"accuracy": best} if best is not None else {},
        "epochs_completed": epochs,
        "duration_s": round(time.time() - started, 3),
        "error": error,
    }


def main(spec_path: str) -> int:
    from automl.engine.utils.processes import stop_when_controller_gone

    stop_when_controller_gone()  # as the real trial does
    spec = json.loads(Path(spec_path).read_text())
    trial_dir = Path(spec["trial_dir"])
    started = time.time()
    # orig_argv: the interpreter's own command line, `-m automl.engine.sweep.standby` when a
    # standby process ran this trial
    timing = {"pid": os.getpid(), "started": started, "orig_argv": sys.orig_argv}
    write_json(trial_dir / "timing.json", timing)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    params = spec["training_parameters"]
    n_epochs = int(params.get("number_of_epochs", 3))
    epoch_s = float(os.environ.get("FAKE_TRIAL_EPOCH_S", "0.1"))
    trial = open_reporter(spec.get("study"))
    best, best_epoch, epoch = None, None, 0
    try:
        if os.environ.get("FAKE_TRIAL_FAIL"):
            raise RuntimeError("boom: the fake trial was told to fail")
        for epoch in range(1, n_epochs + 1):
            time.sleep(epoch_s)
            score = round(quality(params) * (1 - 0.5**epoch), 6)
            if best is None or score >= best:
                best, best_epoch = score, epoch
            record = {"epoch": epoch, "elapsed_s": time.time() - started, "lr": 0.01}
            record.update(train={"loss": 1.0 / epoch}, valid={"accuracy": score})
            with open(trial_dir / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")
            status = {"state": "running", "pid": os.getpid(), "epoch": epoch}
            status.update(n_epochs=n_epochs, step=1, n_steps=1, train_loss=1.0 / epoch)
            status.update(last_score=score, best_score=best, eta_s=0.0, updated_at=time.time())
            write_json(trial_dir / "status.json", status)
            outputs = trial_dir / "outputs"
            outputs.mkdir(exist_ok=True)
            write_json(outputs / "labels.json", {"labels": spec["data"]["labels"], "epoch": epoch})
            if trial is not None:
                trial.report(score, step=epoch)
                if trial.should_prune() and not os.environ.get("FAKE_TRIAL_IGNORE_PRUNE"):
                    write_json(
                        trial_dir / "result.json",
                        result("pruned", best, best_epoch, epoch, started),
                    )
                    return 0
            if os.environ.get("FAKE_TRIAL_HANG"):
                time.sleep(3600)
    except KeyboardInterrupt:
        write_json(trial_dir / "result.json", result("canceled", best, best_epoch, epoch, started))
        return 130
    except Exception as error:  # noqa: BLE001 - the contract: message in result.json, exit 1
        print(f"error: {error}", file=sys.stderr)
        write_json(
            trial_dir / "result.json",
            result("failed", best, best_epoch, epoch, started, str(error)),
        )
        return 1
    write_json(trial_dir / "result.json", result("complete", best, best_epoch, n_epochs, started))
    timing = json.loads((trial_dir / "timing.json").read_text())
    write_json(trial_dir / "timing.json", {**timing, "finished": time.time()})
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1])
    # Leave like the real trial (trial.exit_now): every file is written and closed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
