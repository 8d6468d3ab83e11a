"""Job texts for config tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import textwrap

BASE_JOB = """\
type: automl
task: {task}
target_column_name: label
training_data:
  path: train
  type: mltable
"""


def job_text(extra: str = "", task: str = "image_classification") -> str:
    """A minimal valid job for `task` plus `extra` YAML (dedented) at the top level."""
    return BASE_JOB.format(task=task) + textwrap.dedent(extra)
