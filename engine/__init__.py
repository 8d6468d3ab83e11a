"""The work behind the `automl` command: config, data, models, training, sweeps, serving.

Nothing in here imports `automl.cli`; data flows cli -> engine -> artifacts.
"""
