"""Training: one trial per process (`python -m automl.engine.training.trial SPEC.json`).

Modules: `trial` (entry point, `run_trial`), `loop` (dataloaders, model, train/evaluate),
`optim` (optimizers, Azure's schedules), `losses` (weighted_loss), `early_stopping`,
`checkpoints`, `status`, `study` (Optuna reporting), `settings` (the trial's parameters).
"""
