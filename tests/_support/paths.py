"""Where the tests find the repository's files and the installed console script."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO_ROOT / "examples"
EXAMPLE_JOBS_DIR = EXAMPLES_DIR / "jobs"
BUNDLED_DATA_DIR = EXAMPLES_DIR / "data"
# What a shell user runs: the console script beside this interpreter.
AUTOML = str(Path(sys.executable).with_name("automl"))
