"""Training: one trial per process (`python -m automl.engine.training.trial SPEC.json`).

Modules: `trial` (entry point, `run_trial`), `trainers` (the trainer contract, `TrialInputs`
and the (task kind, model runtime) table of trainers), `hooks` (`EpochHooks`, the per-epoch
duties every trainer calls), `loop` (our epoch loop `fit_epochs`, dataloaders, model,
train/evaluate), `_classification`, `_detection`, `_yolo` (the trainers), `optim`
(optimizers, Azure's schedules), `losses` (weighted_loss), `early_stopping`, `checkpoints`,
`status`, `study` (Optuna reporting), `settings` (the trial's parameters).
"""
