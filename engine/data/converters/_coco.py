"""COCO JSON: boxes, polygon and RLE segmentation (docs/azure-compatibility.md §6.3)."""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from automl.engine.data.converters._base import (
    CONVERTERS,
    ConversionResult,
    Converter,
    ConvertOptions,
    box_record,
    check_count,
    check_image_pixels,
    check_labels,
    clip_unit,
    details,
    find_image,
    require_exists,
)
from automl.engine.data.masks import mask_to_polygons, rle_decode
from automl.engine.data.tasks import DETECTION, MULTILABEL, SEGMENTATION
from automl.engine.errors import DataError
from automl.engine.utils.files import read_bytes_bounded

# Azure's coco2jsonl rule: a bbox whose largest value is below 1.5 is already normalised.
NORMALISED_BBOX_LIMIT = 1.5


@CONVERTERS.register("coco")
class CocoConverter(Converter):
    """A COCO `instances` JSON (+ its image folder) -> detection, segmentation or tags."""

    tasks = (DETECTION, SEGMENTATION, MULTILABEL)
    default_task = DETECTION

    def convert(self, source: Path, task: str, options: ConvertOptions) -> ConversionResult:
        document = _load(require_exists(source, "COCO JSON"))
        check_count(len(document["images"]), source, "images")
        names = _categories(source, document)
        by_image = _annotations_by_image(source, document)
        folders = _image_folders(source, options.images)
        result = ConversionResult(task=task, records=[])
        for i, image in enumerate(document["images"]):
            with _entry(f"{source}: images[{i}]"):
                annotations = by_image.get(image["id"], [])
                check_labels(len(annotations), f"{source}: images[{i}]")
                result.records.append(_record(source, image, annotations, names, folders, result))
        return result


def _record(source, image: dict, annotations: list, names: dict, folders, result) -> dict:
    path = find_image(str(image["file_name"]), folders)
    objects = []
    for annotation in annotations:
        with _entry(f"{source}: annotation id {annotation.get('id')}"):
            obj = _convert_annotation(annotation, image, names, result.task, result.warnings)
        if obj:
            objects.append(obj)
    label = sorted({o["label"] for o in objects}) if result.task == MULTILABEL else objects
    return {
        "image_url": str(path),
        "image_details": details(path, image.get("width"), image.get("height")),
        "label": label,
    }


def _load(source: Path) -> dict:
    data = read_bytes_bounded(source, "manifest_file_bytes", "COCO file")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: not valid JSON: {exc}") from None
    except RecursionError:
        raise DataError(f"{source}: JSON nested too deeply to be a COCO file") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise DataError(f"{source}: not a COCO file (no 'images' list)")
    return document


def _categories(source: Path, document: dict) -> dict:
    names = {}
    for i, category in enumerate(_list(source, document, "categories")):
        with _entry(f"{source}: categories[{i}]"):
            names[category["id"]] = str(category["name"])
    return names


def _annotations_by_image(source: Path, document: dict) -> dict:
    by_image = defaultdict(list)
    for i, annotation in enumerate(_list(source, document, "annotations")):
        with _entry(f"{source}: annotations[{i}]"):
            by_image[annotation["image_id"]].append(annotation)
    return by_image


def _list(source: Path, document: dict, key: str) -> list:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise DataError(f"{source}: '{key}' is {type(value).__name__}, not a list")
    return value


@contextlib.contextmanager
def _entry(where: str) -> Iterator[None]:
    """Turn a malformed COCO entry (a missing key, a value of the wrong type) into a
    DataError naming it, instead of a KeyError or TypeError traceback."""
    try:
        yield
    except KeyError as exc:
        raise DataError(f"{where}: missing key {exc}") from None
    except (TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise DataError(f"{where}: malformed entry ({type(exc).__name__}: {exc})") from None


def _image_folders(source: Path, images: Path | None) -> list[Path]:
    if images is not None:
        return [images]
    parent = source.absolute().parent
    return [parent, parent / "images", parent.parent / "images"]


def _convert_annotation(annotation, image, names, task, warnings) -> dict | None:
    label = names.get(annotation["category_id"])
    if label is None:
        warnings.append(f"annotation {annotation.get('id')}: unknown category_id; skipped")
        return None
    crowd = bool(annotation.get("iscrowd", 0))
    if task == SEGMENTATION:
        return _instance(annotation, image, label, crowd, warnings)
    return _box(annotation, image, label, crowd, warnings)


def _box(annotation, image, label, crowd, warnings) -> dict | None:
    x, y, w, h = (float(v) for v in annotation["bbox"])
    if w <= 0 or h <= 0:
        warnings.append(f"annotation {annotation.get('id')}: empty bbox {annotation['bbox']}")
        return None
    if max(x, y, w, h) >= NORMALISED_BBOX_LIMIT:
        width, height = float(image["width"]), float(image["height"])
        x, w, y, h = x / width, w / width, y / height, h / height
    return box_record(label, (x, y, x + w, y + h), crowd)


def _instance(annotation, image, label, crowd, warnings) -> dict | None:
    width, height = float(image["width"]), float(image["height"])
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, dict):
        size = segmentation.get("size") or [image["height"], image["width"]]
        check_image_pixels((int(size[1]), int(size[0])), f"annotation {annotation.get('id')}")
        mask = rle_decode(segmentation["counts"], int(size[0]), int(size[1]))
        segments = mask_to_polygons(mask)
    else:
        segments = [s for s in segmentation or [] if len(s) >= 6]
    if not segments:
        warnings.append(
            f"annotation {annotation.get('id')} (image {image['file_name']}): no polygon with "
            "3 or more points; skipped"
        )
        return None
    polygon = [
        [clip_unit(v / (width if i % 2 == 0 else height)) for i, v in enumerate(segment)]
        for segment in segments
    ]
    return {"label": label, "isCrowd": crowd, "polygon": polygon}
