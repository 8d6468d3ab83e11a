"""docs/ARCHITECTURE.md's checklists name the functions that really plug a family, a task,
a sampler and a CLI noun in: each name it cites exists where it says."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"

# name cited in the checklists -> the module that must define it
EXTENSION_POINTS = {
    "register_family": "automl.engine.models",
    "register_model": "automl.engine.models",
    "ModelFamily": "automl.engine.models",
    "ModelSpec": "automl.engine.models",
    "register_trainer": "automl.engine.training.trainers",
    "register_predictor": "automl.engine.predict",
    "register_task": "automl.engine.tasks",
    "TaskDescriptor": "automl.engine.tasks",
    "register_sampler": "automl.engine.sweep.samplers",
    "PORTFOLIOS": "automl.engine.sweep.automode",
    "NOUNS": "automl.cli.main",
    "LazyRef": "automl.engine.utils.lazy",
    "build_summary": "automl.engine.sweep.summary",
    "submit_job": "automl.engine.runs.submit",
    "run_job": "automl.engine.sweep.controller",
}


def test_every_extension_point_is_cited_and_exists():
    text = DOC.read_text(encoding="utf-8")
    for name, module in EXTENSION_POINTS.items():
        assert re.search(rf"\b{name}\b", text), f"docs/ARCHITECTURE.md does not cite {name}"
        assert hasattr(importlib.import_module(module), name), f"{module} has no {name}"


def test_every_path_it_names_exists():
    text = DOC.read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:cli|engine|schemas|tests)/[\w./]+\.(?:py|json))`", text))
    assert paths, "no file paths found: the pattern is out of date"
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not missing, f"docs/ARCHITECTURE.md names files that do not exist: {missing}"
