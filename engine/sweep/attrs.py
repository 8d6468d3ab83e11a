"""What the sweep keeps with a study and its trials: the names of Optuna user (and system)
attributes. Every fact of the job record is stored under one of these, so any machine
rebuilds the record from the study alone (summary.py, worker.py)."""

from __future__ import annotations

# the study's
JOB_ATTR = "automl_job"  # {"run_dir", "started_at" (epoch s), "started_at_iso", "task", ...}
STATUS_ATTR = "automl_status"  # the job's status as its last worker left it
TRACKING_ATTR = "automl_tracking"  # its MLflow run: {"uri" (redacted), "experiment_id", "run_id"}

# each trial's
PARAMS_ATTR = "automl_params"  # the sampled hyperparameters (samplers/_base.py)
OUTCOME_ATTR = "automl_outcome"  # its TrialResult (engine/trials/result.py), once finished
PID_ATTR = "automl_pid"  # its process record (processes.trial_record)
INTERRUPTED_ATTR = "automl_interrupted"  # stopped by its controller: not counted in max_trials
CONTINUES_ATTR = "automl_continues"  # the number of the interrupted trial it continues
GROUP_ATTR = "automl_group"  # {"endpoint", "run_id", "n_nodes", "leader", "opened_at"}
NODE_ATTR_PREFIX = "automl_node_"  # + rank: {"node", "joined_at"} of a group's member
GRID_ID_ATTR = "automl_grid_id"  # system attribute: the grid point it runs (samplers/_grid.py)
FINAL_ATTR = "automl_final_run"  # the best configuration trained to completion (fidelity.py)
OVERRIDES_ATTR = "automl_overrides"  # values that replace the sampled ones (a final run's epochs)
PORTFOLIO_ATTR = "automl_portfolio_entry"  # the AutoMode portfolio entry it runs (its index)
