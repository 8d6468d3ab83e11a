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
        best = (_read_json(run_dir / "summary.json") or {}).get("best_trial") or {}
        return run_dir, best.get("number")
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
        data_manifests={p.name: file_sha256(p) for p in sorted(run_dir.glob("data/*.jsonl"))},
        params=record.get("params", {}),
        metrics=record.get("metrics", {}),
        score=record.get("score"),
        primary_metric=summary.get("primary_metric"),
        packages=(_read_json(run_dir / "env.json") or {}).get("packages", {}),
    )
    return lineage


def _trial_record(summary: dict, trial: int | None) -> dict:
    for record in summary.get("trials", []):
        if record.get("number") == trial:
            return record
    return {}


def _is_run_dir(path: Path) -> bool:
    return (path / "job.yml").is_file() or (path / "summary.json").is_file()


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _hash_if_file(path: Path) -> str | None:
    return file_sha256(path) if path.is_file() else None
