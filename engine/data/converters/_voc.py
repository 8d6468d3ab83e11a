"""Pascal VOC XML, one file per image (reference §6.3; `difficult` -> isCrowd)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from automl.engine.data.converters._base import (
    CONVERTERS,
    ConversionResult,
    Converter,
    ConvertOptions,
    box_record,
    details,
    find_image,
    image_size,
    require_exists,
)
from automl.engine.data.tasks import DETECTION, MULTILABEL
from automl.engine.errors import DataError


@CONVERTERS.register("voc")
class VocConverter(Converter):
    """A folder of VOC XML files (or one file) -> detection records (or multi-label tags)."""

    tasks = (DETECTION, MULTILABEL)
    default_task = DETECTION

    def convert(self, source: Path, task: str, options: ConvertOptions) -> ConversionResult:
        source = require_exists(source, "VOC annotation folder or file")
        files = sorted(source.glob("*.xml"), key=_natural) if source.is_dir() else [source]
        if not files:
            raise DataError(f"{source}: no .xml files")
        folders = _image_folders(source, options.images)
        result = ConversionResult(task=task, records=[])
        for file in files:
            record = _convert_file(file, folders, result.warnings)
            if task == MULTILABEL:
                record["label"] = sorted({o["label"] for o in record["label"]})
            result.records.append(record)
        return result


def _natural(path: Path) -> list:
    """raccoon-2 before raccoon-10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _image_folders(source: Path, images: Path | None) -> list[Path]:
    if images is not None:
        return [images]
    folder = source.absolute() if source.is_dir() else source.absolute().parent
    return [folder.parent / "images", folder.parent / "JPEGImages", folder]


def _convert_file(file: Path, folders: list[Path], warnings: list[str]) -> dict:
    try:
        root = ET.parse(file).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{file}: not valid XML: {exc}") from None
    name = root.findtext("filename") or file.with_suffix(".jpg").name
    path = find_image(name, folders)
    width, height = _size(root, path)
    if not width or not height:
        raise DataError(f"{file}: no <size> and the image {path} cannot be read for its size")
    objects = [_object(obj, width, height, file, warnings) for obj in root.iter("object")]
    return {
        "image_url": str(path),
        "image_details": details(path, width, height),
        "label": [o for o in objects if o is not None],
    }


def _size(root: ET.Element, path: Path) -> tuple[int, int]:
    width = int(float(root.findtext("size/width") or 0))
    height = int(float(root.findtext("size/height") or 0))
    if width > 0 and height > 0:
        return width, height
    return image_size(path) or (0, 0)


def _object(obj: ET.Element, width: int, height: int, file: Path, warnings) -> dict | None:
    label = (obj.findtext("name") or "").strip()
    try:
        xmin, ymin, xmax, ymax = (
            float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")
        )
    except (TypeError, ValueError):
        warnings.append(f"{file}: object '{label}' has no numeric <bndbox>; skipped")
        return None
    crowd = (obj.findtext("difficult") or "0").strip() not in ("0", "", "false")
    return box_record(label, (xmin / width, ymin / height, xmax / width, ymax / height), crowd)
