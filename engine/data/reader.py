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
from automl.engine.data.remote import redact_url
from automl.engine.data.streaming import FetchReport, ProgressLogger, get_image_store
from automl.engine.data.tasks import check_task
from automl.engine.data.urls import is_remote, resolve_location
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
    stream_images: bool = False,
) -> tuple[list[dict], DataReport]:
    """Read and check one dataset; returns the usable records and the doctor's report.

    Per-line problems are errors under `invalid_lines: error` (the default) and are
    skipped and counted under `invalid_lines: drop`. Raises DataError only when the table
    itself cannot be read (no MLTable, bad YAML, unreadable file).

    Remote images (URLs) are fetched into the shared image cache first and the doctor
    checks the cached files; with `stream_images` they are only checked to exist (they
    are read while training). The summary's `remote` says how many and how many bytes.
    """
    check_task(task)
    spec = read_table_spec(path)
    lines = [_parse_line(line, task, target_column_name, spec) for line in iter_lines(spec)]
    remote = {"images": 0, "bytes": 0, "streamed": stream_images}
    if check_images:
        remote = _probe(lines, stream_images)
    records, report = _collect(lines, spec.invalid_lines)
    report.warnings[:0] = spec.warnings
    report.summary = summarise(task, records, n_dropped=report.summary.get("n_dropped", 0))
    if remote["images"]:
        report.summary["remote"] = remote
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


def _probe(lines: list[_Line], stream_images: bool) -> dict:
    usable = [line for line in lines if line.record is not None]
    fetched = _fetch_remote([line.record["image_url"] for line in usable], stream_images)
    to_probe = [line for line in usable if _needs_probe(line, fetched, stream_images)]
    probes = probe_images([str(fetched.paths.get(u, u)) for u in _urls(to_probe)])
    results = dict(zip(map(id, to_probe), probes, strict=True))
    n_remote = sum(1 for line in usable if is_remote(line.record["image_url"]))
    for line in usable:
        url = line.record["image_url"]
        if url in fetched.errors:
            _fail(line, f"could not be fetched: {_one_line(fetched.errors[url])}")
        elif id(line) in results:
            _apply_probe(line, results[id(line)])
    return {"images": n_remote, "bytes": fetched.n_bytes, "streamed": stream_images}


def _one_line(error: AutomlError) -> str:
    return f"{error.message}; {error.hint}" if error.hint else error.message


def _urls(lines: list[_Line]) -> list[str]:
    return [line.record["image_url"] for line in lines]


def _needs_probe(line: _Line, fetched: FetchReport, stream_images: bool) -> bool:
    url = line.record["image_url"]
    return url not in fetched.errors and not (stream_images and is_remote(url))


def _fetch_remote(locations: list[str], stream_images: bool) -> FetchReport:
    remote = [location for location in locations if is_remote(location)]
    if not remote:
        return FetchReport()
    store = get_image_store()
    if stream_images:  # checked to exist only: the images are read while training
        return FetchReport(errors=store.check_exist(remote))
    return store.fetch_all(remote, ProgressLogger("fetching images into the cache"))


def _apply_probe(line: _Line, probe) -> None:
    if probe.problem:
        _fail(line, probe.problem)
        return
    line.record["image_details"] = {"width": probe.width, "height": probe.height}
    line.record[HASH_KEY] = probe.sha1


def _fail(line: _Line, problem: str) -> None:
    record = line.record
    where = f"'{redact_url(line.reference)}'"
    if line.reference != record["image_url"]:
        where += f" ({redact_url(record['image_url'])})"
    line.problems.append(f"{record['source']}: image {where} {problem}")
    line.record = None


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
