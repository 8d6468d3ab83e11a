"""`filename,labels` CSV for multi-label classification (docs/azure-compatibility.md §6.3).

Labels are separated by spaces as in Azure's sample, or by `|` or `;` (detected per file,
or `--separator`). The header line is skipped; lines without exactly two fields are
skipped with a warning, as Azure's converter does. Images resolve against `--images`,
else the CSV's folder, else its `images/` sub-folder.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from automl.engine.data.converters._base import (
    CONVERTERS,
    ConversionResult,
    Converter,
    ConvertOptions,
    check_count,
    details,
    find_image,
    is_image,
    require_exists,
)
from automl.engine.data.tasks import MULTICLASS, MULTILABEL
from automl.engine.errors import DataError
from automl.engine.utils.files import read_text_bounded

SEPARATORS = ("|", ";")


@CONVERTERS.register("csv")
class CsvConverter(Converter):
    """A `filename,labels` CSV -> multi-label records (or multi-class, one label each)."""

    tasks = (MULTILABEL, MULTICLASS)
    default_task = MULTILABEL

    def convert(self, source: Path, task: str, options: ConvertOptions) -> ConversionResult:
        rows = _read_rows(require_exists(source, "CSV file"))
        separator = options.separator or _detect_separator(rows)
        folders = [options.images] if options.images else [source.parent, source.parent / "images"]
        result = ConversionResult(task=task, records=[])
        for number, row in rows:
            if len(row) != 2:
                result.warnings.append(f"{source}:{number}: expected 2 fields, got {len(row)}")
                continue
            names = _split_labels(row[1], separator)
            if task == MULTICLASS and len(names) != 1:
                raise DataError(
                    f"{source}:{number}: {len(names)} labels; image_classification needs exactly "
                    "one per image (use task image_classification_multilabel)"
                )
            path = find_image(row[0].strip(), folders)
            label = names[0] if task == MULTICLASS else names
            result.records.append(
                {"image_url": str(path), "image_details": details(path), "label": label}
            )
        return result


def _read_rows(source: Path) -> list[tuple[int, list[str]]]:
    text = read_text_bounded(source, "manifest_file_bytes", "CSV file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(n, row) for n, row in enumerate(reader, start=1) if any(row)]
    except csv.Error as exc:  # e.g. a field over csv's own size limit, a NUL byte
        raise DataError(f"{source}:{reader.line_num}: not a readable CSV line: {exc}") from None
    check_count(len(rows), source, "rows")
    if rows and not is_image(rows[0][1][0].strip()):
        rows = rows[1:]  # the header line ("filename,labels")
    return rows


def _detect_separator(rows: list[tuple[int, list[str]]]) -> str | None:
    for separator in SEPARATORS:
        if any(len(row) == 2 and separator in row[1] for _, row in rows):
            return separator
    return None  # whitespace


def _split_labels(text: str, separator: str | None) -> list[str]:
    parts = text.split(separator) if separator else text.split()
    names: list[str] = []
    for part in (p.strip() for p in parts):
        if part and part not in names:
            names.append(part)
    return names
