"""Reading a dataset (MLTable, JSONL file, or a folder with an MLTable) into records.

A record is a manifest line plus a private content hash:
`{"image_url": abs path or URL, "label": normalised, "image_details": {width, height},
"source": "file:line", "_sha1": ...}`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from automl.engine.data.doctor import HASH_KEY, DataReport, probe_images, summarise
from automl.engine.data.labels import parse_image_details, parse_label
from automl.engine.data.mltable import JsonLine, decode_line, iter_lines, read_table_spec
from automl.engine.data.tasks import check_task
from automl.engine.data.urls import resolve_location
from automl.engine.errors import AutomlError


@dataclass
class _Line:
    record: dict | None
    problems: list[str]
    reference: str = ""


def read_dataset(
    path: str | os.PathLike,
    task: str,
    target_column_name: str = "label",
    *,
    check_images: bool = True,
) -> tuple[list[dict], DataReport]:
    """Read and check one dataset; returns the usable records and the doctor's report.

    Per-line problems are errors under `invalid_lines: error` (the default) and are
    skipped and counted under `invalid_lines: drop`. Raises DataError only when the table
    itself cannot be read (no MLTable, bad YAML, unreadable file).
    """
    check_task(task)
    spec = read_table_spec(path)
    lines = [_parse_line(line, task, target_column_name, spec) for line in iter_lines(spec)]
    if check_images:
        _probe(lines)
    records, report = _collect(lines, spec.invalid_lines)
    report.warnings[:0] = spec.warnings
    report.summary = summarise(task, records, n_dropped=report.summary.get("n_dropped", 0))
    return records, report


def _parse_line(line: JsonLine, task: str, target: str, spec) -> _Line:
    row, problem = decode_line(line)
    if row is None:
        return _Line(None, [f"{line.source}: {problem}"])
    problems = []
    reference = row.get("image_url")
    if not isinstance(reference, str) or not reference.strip():
        problems.append("missing 'image_url' (a path or URL of the image)")
    if target not in row:
        keys = ", ".join(sorted(row)) or "none"
        problems.append(f"missing label column '{target}' (target_column_name); keys: {keys}")
    label, label_problems = parse_label(task, row.get(target)) if target in row else (None, [])
    details, detail_problems = parse_image_details(row.get("image_details"))
    problems += label_problems + detail_problems
    location = _resolve(reference, line, problems)
    if problems:
        return _Line(None, [f"{line.source}: {p}" for p in problems])
    record = {
        "image_url": location,
        "label": label,
        "image_details": details,
        "source": line.source,
    }
    if spec.include_path_column:
        record[spec.path_column] = line.file
    return _Line(record, [], reference)


def _resolve(reference, line: JsonLine, problems: list[str]) -> str | None:
    if not isinstance(reference, str) or not reference.strip():
        return None
    try:
        return resolve_location(reference, line.base_dir)
    except AutomlError as exc:
        problems.append(str(exc))
        return None


def _probe(lines: list[_Line]) -> None:
    usable = [line for line in lines if line.record is not None]
    probes = probe_images([line.record["image_url"] for line in usable])
    for line, probe in zip(usable, probes, strict=True):
        record = line.record
        if probe.problem:
            where = f"'{line.reference}'"
            if line.reference != record["image_url"]:
                where += f" ({record['image_url']})"
            line.problems.append(f"{record['source']}: image {where} {probe.problem}")
            line.record = None
            continue
        record["image_details"] = {"width": probe.width, "height": probe.height}
        record[HASH_KEY] = probe.sha1


def _collect(lines: list[_Line], invalid_lines: str) -> tuple[list[dict], DataReport]:
    records = [line.record for line in lines if line.record is not None]
    problems = [p for line in lines for p in line.problems]
    n_bad = sum(1 for line in lines if line.problems)
    report = DataReport()
    if invalid_lines == "drop" and problems:
        report.warnings.append(
            f"dropped {n_bad} invalid lines (invalid_lines: drop); first: {problems[0]}"
        )
        report.summary["n_dropped"] = n_bad
    else:
        report.problems.extend(problems)
    return records, report


def public_record(record: dict) -> dict:
    """A record without private keys, as written to manifests."""
    return {key: value for key, value in record.items() if not key.startswith("_")}
