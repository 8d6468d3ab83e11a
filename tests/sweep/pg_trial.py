"""The fake trial (fake_trial.py) reading its storage URL as real trials do.

Specs hold the redacted URL; the controller passes the real one in STORAGE_ENV.
"""

from __future__ import annotations

import sys

import fake_trial

from automl.engine.trials.storage_url import sqlalchemy_url, trial_storage

_open_reporter = fake_trial.open_reporter


def open_reporter(study_spec: dict | None):
    if study_spec:
        url = sqlalchemy_url(trial_storage(study_spec["storage"]))
        study_spec = {**study_spec, "storage": url}
    return _open_reporter(study_spec)


fake_trial.open_reporter = open_reporter

if __name__ == "__main__":
    sys.exit(fake_trial.main(sys.argv[1]))
