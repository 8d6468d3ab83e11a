"""Where a model package came from, read from its run directory (architecture.md)."""

from __future__ import annotations

import json
from pathlib import Path

from automl.engine.registry._store import file_sha256


def find_package_run_dir(package_dir: Path) -> tuple[Path | None, int | None]:
    """The run directory holding `package_dir` and the trial number, when it is one of
    `<run>/best_model` or `<run>/trials/<n>/outputs`."""
    package_dir = package_dir.resolve()
    if package_dir.name == "best_model" and _is_run_dir(package_dir.parent):
        run_dir = package_dir.parent
        best = (_read_json(run_dir / "summary.json") or {}).get("best_trial")
        number = best.get("number") if isinstance(best, dict) else None
        return run_dir, number if isinstance(number, int) else None
    parts = package_dir.parts
    if len(parts) >= 4 and parts[-1] == "outputs" and parts[-3] == "trials":
        run_dir = package_dir.parents[2]
        if _is_run_dir(run_dir) and parts[-2].isdigit():
            return run_dir, int(parts[-2])
    return None, None


def collect_lineage(package_dir: Path, meta: dict) -> dict:
    """Source job and trial, job file hash, data manifest hashes, params, metrics and
    package versions; from the model file alone when the run directory is not at hand."""
    run_dir, trial = find_package_run_dir(package_dir)
    lineage: dict = {
        "source_path": str(package_dir.resolve()),
        "task": meta.get("task"),
        "model_name": meta.get("model_name"),
        "training_parameters": meta.get("training_parameters") or {},
        "job": None,
        "trial": trial,
    }
    if run_dir is None:
        return lineage
    summary = _read_json(run_dir / "summary.json") or {}
    record = _trial_record(summary, trial)
    lineage.update(
        run_dir=str(run_dir),
        job=summary.get("name", run_dir.name),
        job_file_sha256=_hash_if_file(run_dir / "job.yml"),
        data_manifests={p.name: _hash_if_file(p) for p in sorted(run_dir.glob("data/*.jsonl"))},
        params=record.get("params", {}),
        metrics=record.get("metrics", {}),
        score=_number_or_none(record.get("score")),
        primary_metric=summary.get("primary_metric"),
        packages=(_read_json(run_dir / "env.json") or {}).get("packages", {}),
    )
    return lineage


def _number_or_none(value: object) -> float | None:
    """A score as a number (run records are read, not trusted: `model list` formats it)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _trial_record(summary: dict, trial: int | None) -> dict:
    trials = summary.get("trials")
    for record in trials if isinstance(trials, list) else []:
        if isinstance(record, dict) and record.get("number") == trial:
            return record
    return {}


def _is_run_dir(path: Path) -> bool:
    return (path / "job.yml").is_file() or (path / "summary.json").is_file()


def _read_json(path: Path) -> dict | None:
    """A run record's JSON object; None when absent, unreadable, not a regular file or
    over `package_json_bytes` (lineage is then partial, never a hang or a crash)."""
    from automl.engine.errors import AutomlError
    from automl.engine.utils.files import read_text_bounded

    if not path.is_file():
        return None
    try:
        value = json.loads(read_text_bounded(path, "package_json_bytes", "run record"))
    except (AutomlError, OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _hash_if_file(path: Path) -> str | None:
    """sha256 of a regular file (a FIFO or device is never opened)."""
    return file_sha256(path) if path.is_file() else None
