"""From a resolved job to the manifests trials read: read, check, split, write.

`prepare_job_data` is what a run calls; `check_job_data` runs the same checks and writes
nothing (for `automl job validate` and `automl data validate --file`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from automl.engine.data.cache import default_cache_dir
from automl.engine.data.doctor import (
    DataReport,
    check_all_leaked,
    check_duplicates,
    check_min_images,
    check_no_classes,
    check_rare_classes,
    check_unseen_labels,
    class_counts,
    find_leakage,
    leakage_warnings,
    summarise,
)
from automl.engine.data.manifest import write_manifest
from automl.engine.data.reader import public_record, read_dataset
from automl.engine.data.remote import redact_url
from automl.engine.data.split import split_records
from automl.engine.data.streaming import configure_image_store, get_image_store, parse_cache_size
from automl.engine.data.urls import display_path
from automl.engine.errors import AutomlError, DataError
from automl.engine.utils.files import write_json_atomic

logger = logging.getLogger("automl.data")
DEFAULT_VALIDATION_SIZE = 0.2
DEFAULT_SEED = 0
DATA_KEYS = ("training_data", "validation_data")


@dataclass
class PreparedData:
    """The manifests a run trains and validates on, and what was noticed on the way."""

    train_manifest: Path
    valid_manifest: Path
    labels: list[str]
    n_train: int
    n_valid: int
    warnings: list[str] = field(default_factory=list)
    # validation images identical to training images, left out of validation (scoring)
    leaked_validation_images: int = 0


@dataclass
class _JobData:
    task: str
    train: list[dict]
    valid: list[dict]
    report: DataReport
    split: dict
    images: ImageOptions
    remote: dict | None = None  # how remote images are read (None: all images are local)


@dataclass
class ImageOptions:
    """advanced_settings that decide how remote images are read (docs/azure-compatibility.md
    §3.8)."""

    stream: bool = False
    cache_bytes: int = 0


def prepare_job_data(
    job_resolved: dict, run_dir: Path, *, seed: int | None = None, job_file: str | None = None
) -> PreparedData:
    """Read and check the job's data, split it if needed, write run_dir/data/.

    Writes `data/train.jsonl`, `data/valid.jsonl` (manifests) and `data/split.json`.
    Raises DataError listing every problem when the data cannot be used (a missing data
    path is one problem naming `job_file` and the key).
    """
    data = _load_job_data(job_resolved, seed, job_file)
    if data.report.problems:
        raise DataError(_problem_message(data.report.problems), problems=data.report.problems)
    for warning in data.report.warnings:
        logger.warning(warning)
    out = Path(run_dir) / "data"
    train_path, valid_path = out / "train.jsonl", out / "valid.jsonl"
    write_manifest(train_path, [public_record(r) for r in data.train])
    write_manifest(valid_path, [public_record(r) for r in data.valid])
    _protect_signed_urls([train_path, valid_path], data.train + data.valid)
    labels = sorted(class_counts(data.task, data.train))
    split = {**data.split, "labels": labels}
    if data.remote is not None:
        get_image_store().cache.record_limit(data.images.cache_bytes)  # trials enforce it
        split["remote_images"] = data.remote
    write_json_atomic(out / "split.json", split)
    return PreparedData(
        train_manifest=train_path.absolute(),
        valid_manifest=valid_path.absolute(),
        labels=labels,
        n_train=len(data.train),
        n_valid=len(data.valid),
        warnings=list(data.report.warnings),
        leaked_validation_images=split["leaked_validation_images"],
    )


def load_prepared_data(run_dir: Path) -> PreparedData:
    """The data a run was prepared with (for `automl job resume`): never re-split."""
    out = Path(run_dir) / "data"
    split_path = out / "split.json"
    if not split_path.is_file():
        raise DataError(
            f"{split_path} is missing: the job stopped before its data was prepared",
            hint="start it again with 'automl job create'",
        )
    split = json.loads(split_path.read_text(encoding="utf-8"))
    return PreparedData(
        train_manifest=(out / "train.jsonl").absolute(),
        valid_manifest=(out / "valid.jsonl").absolute(),
        labels=list(split["labels"]),
        n_train=int(split["n_train"]),
        n_valid=int(split["n_valid"]),
        leaked_validation_images=int(split.get("leaked_validation_images", 0)),
    )


def check_job_data(job_resolved: dict, *, job_file: str | None = None) -> DataReport:
    """Run the doctor on the job's data without writing anything.

    The summary is `{"task", "split", "train": {...}, "valid": {...},
    "leaked_validation_images"}`, each side with images, classes (counts), objects and
    boxes_per_image (detection, segmentation) and the image size range. Missing data
    paths, unreadable tables and tables over a bound become problems, not exceptions.
    """
    try:
        data = _load_job_data(job_resolved, None, job_file)
    except AutomlError as exc:
        return DataReport(problems=getattr(exc, "problems", None) or [str(exc)], summary={})
    return data.report


def _load_job_data(job: dict, seed: int | None, job_file: str | None) -> _JobData:
    task = job["task"]
    target = job.get("target_column_name") or "label"
    train_path, valid_path = _data_paths(job, job_file)
    images = _configure_images(job)
    train, train_report = read_dataset(train_path, task, target, stream_images=images.stream)
    report = DataReport(problems=list(train_report.problems), warnings=list(train_report.warnings))
    # Azure's minimum counts the training data as given, before any split.
    report.problems += check_min_images(train, "training data")
    valid_report = DataReport()
    if valid_path is not None:
        valid, valid_report = read_dataset(valid_path, task, target, stream_images=images.stream)
        report.problems += valid_report.problems
        report.warnings += valid_report.warnings
        valid, leaked = _drop_leaked(train, valid, report)
        split = _given_split(train_path, valid_path, train, valid, leaked)
    else:
        train, valid, split = _split(job, task, train, train_path, seed, report)
    _run_rules(task, train, valid, report)
    report.summary = _job_summary(task, train, valid, train_report, split)
    report.problems += _check_cache_fits(images, train_report, valid_report)
    remote = _remote_summary(images, train_report, valid_report)
    if remote is not None:
        report.summary["remote_images"] = remote
    return _JobData(task, train, valid, report, split, images, remote)


def _configure_images(job: dict) -> ImageOptions:
    """stream_image_files and image_cache_size; the process's image store uses the bound."""
    text = (job.get("training_parameters") or {}).get("advanced_settings")
    settings = (json.loads(text) if isinstance(text, str) else text) or {}
    cache_dir = default_cache_dir()
    options = ImageOptions(
        stream=settings.get("stream_image_files") is True,
        cache_bytes=parse_cache_size(settings.get("image_cache_size"), cache_dir),
    )
    configure_image_store(cache_dir, options.cache_bytes)
    return options


def _remote_bytes(*reports: DataReport) -> tuple[int, int]:
    remote = [r.summary.get("remote") or {} for r in reports]
    return sum(r.get("images", 0) for r in remote), sum(r.get("bytes", 0) for r in remote)


def _check_cache_fits(images: ImageOptions, *reports: DataReport) -> list[str]:
    """Without streaming every remote image must fit in the cache at once."""
    _, n_bytes = _remote_bytes(*reports)
    if images.stream or n_bytes <= images.cache_bytes:
        return []
    return [
        f"the remote images take {n_bytes / 1e6:.1f} MB, more than the image cache's bound "
        f"of {images.cache_bytes / 1e6:.1f} MB; set advanced_settings "
        '{"stream_image_files": true} to stream them, or raise "image_cache_size"'
    ]


def _remote_summary(images: ImageOptions, *reports: DataReport) -> dict | None:
    """How the remote images are read, for split.json and the data summary."""
    n_images, n_bytes = _remote_bytes(*reports)
    if not n_images:
        return None
    return {
        "images": n_images,
        "fetched_bytes": n_bytes,
        "stream_image_files": images.stream,
        "cache_dir": str(get_image_store().cache.root),
        "cache_max_bytes": images.cache_bytes,
    }


def _protect_signed_urls(paths: list[Path], records: list[dict]) -> None:
    """Manifests must keep signed URLs (trials read them): make them private to the user."""
    if any(redact_url(r["image_url"]) != r["image_url"] for r in records):
        for path in paths:
            path.chmod(0o600)


def _data_paths(job: dict, job_file: str | None) -> tuple[str, str | None]:
    """training_data.path and validation_data.path (None when not given), checked to exist:
    each missing one is a problem of its own, naming the job file and the key."""
    problems = [_path_problem(job, key) for key in DATA_KEYS]
    problems = [f"{job_file}: {p}" if job_file else p for p in problems if p]
    if problems:
        raise DataError(_problem_message(problems), problems=problems)
    valid = job.get("validation_data")
    return str(job["training_data"]["path"]), (str(valid["path"]) if valid else None)


def _path_problem(job: dict, key: str) -> str | None:
    section = job.get(key)
    if section is None and key != "training_data":
        return None
    if not isinstance(section, dict) or not section.get("path"):
        return f"{key}.path is missing: give the MLTable folder or .jsonl file of the data"
    path = Path(str(section["path"]))
    if path.exists():
        return None
    return (
        f"{key}.path: {display_path(path)}: no such file or folder; point it at an MLTable "
        "folder, an MLTable file or a .jsonl file (relative paths start at the job file's "
        "folder)"
    )


def _drop_leaked(train: list, valid: list, report: DataReport) -> tuple[list, list]:
    """Validation without the copies of training images (a warning names them), and the
    (validation, training) pairs left out. Every image leaked is a problem instead."""
    pairs = find_leakage(train, valid)
    report.warnings += leakage_warnings(pairs, len(valid))
    report.problems += check_all_leaked(pairs, len(valid))
    leaked = {id(record) for record, _ in pairs}
    return [r for r in valid if id(r) not in leaked], pairs


def _split(job, task, records, train_path, seed, report) -> tuple[list, list, dict]:
    size = job.get("validation_data_size")
    size = DEFAULT_VALIDATION_SIZE if size is None else float(size)
    seed, seed_source = _seed(job, seed)
    if report.problems or len(records) < 2:
        return records, [], _split_record("none", train_path, None, records, [], seed, size)
    train, valid = split_records(records, task, size, seed)
    split = _split_record("stratified", train_path, None, train, valid, seed, size)
    split["seed_source"] = seed_source
    return train, valid, split


def _seed(job: dict, seed: int | None) -> tuple[int, str]:
    if seed is not None:
        return int(seed), "argument"
    given = (job.get("training_parameters") or {}).get("random_seed")
    if given is not None:
        return int(given), "training_parameters.random_seed"
    return DEFAULT_SEED, "default"


def _given_split(train_path, valid_path, train, valid, leaked) -> dict:
    split = _split_record("validation_data", train_path, valid_path, train, valid, None, None)
    split["leaked_validation_images"] = len(leaked)
    split["leaked_validation"] = [
        {"source": v["source"], "image_url": redact_url(v["image_url"]), "training": t["source"]}
        for v, t in leaked
    ]
    return split


def _split_record(method, train_path, valid_path, train, valid, seed, size) -> dict:
    # URLs are listed redacted: split.json is a record, not something trials read.
    return {
        "version": 1,
        "method": method,
        "seed": seed,
        "validation_data_size": size,
        "sources": {"training_data": str(train_path), "validation_data": valid_path},
        "n_train": len(train),
        "n_valid": len(valid),
        "leaked_validation_images": 0,  # a split keeps identical images on one side
        "train": [redact_url(r["image_url"]) for r in train],
        "valid": [redact_url(r["image_url"]) for r in valid],
    }


def _run_rules(task, train, valid, report: DataReport) -> None:
    report.problems += check_no_classes(task, train, "training data")
    report.problems += check_unseen_labels(task, train, valid)
    report.warnings += check_duplicates(train, "training data")
    report.warnings += check_duplicates(valid, "validation data")
    report.warnings += check_rare_classes(task, train, "training data")


def _job_summary(task, train, valid, train_report: DataReport, split: dict) -> dict:
    return {
        "task": task,
        "split": split["method"],
        "train": summarise(task, train, train_report.summary.get("n_dropped", 0)),
        "valid": summarise(task, valid),
        "leaked_validation_images": split["leaked_validation_images"],
    }


def _problem_message(problems: list[str]) -> str:
    shown = "\n".join(f"  {p}" for p in problems[:50])
    more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
    noun = "problem" if len(problems) == 1 else "problems"
    return f"the job's data has {len(problems)} {noun}:\n{shown}{more}"


def check_dataset(path: str | Path, task: str, target_column_name: str = "label") -> DataReport:
    """Run the doctor on one dataset (MLTable folder or file, or JSONL) as training data.

    A folder with no MLTable but `train/` and `valid/` MLTable folders (the layout of the
    bundled datasets and of `automl data convert --validation-size`) is checked as a
    training/validation pair, exactly as a job using both would be.
    """
    path = Path(path)
    pair = _pair_folders(path)
    if pair is not None:
        job = {
            "task": task,
            "target_column_name": target_column_name,
            "training_data": {"path": str(pair[0])},
            "validation_data": {"path": str(pair[1])},
        }
        return check_job_data(job)
    try:
        records, report = read_dataset(path, task, target_column_name)
    except AutomlError as exc:
        return DataReport(problems=getattr(exc, "problems", None) or [str(exc)])
    report.problems += check_min_images(records, "training data")
    report.problems += check_no_classes(task, records, "training data")
    report.warnings += check_duplicates(records, "training data")
    report.warnings += check_rare_classes(task, records, "training data")
    report.summary = {"task": task, "split": None, "train": report.summary, "valid": None}
    return report


def _pair_folders(path: Path) -> tuple[Path, Path] | None:
    if not path.is_dir() or (path / "MLTable").exists():
        return None
    train, valid = path / "train", path / "valid"
    if (train / "MLTable").is_file() and (valid / "MLTable").is_file():
        return train, valid
    return None
