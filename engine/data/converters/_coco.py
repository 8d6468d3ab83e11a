"""COCO JSON: boxes, polygon and RLE segmentation (reference §6.3)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from automl.engine.data.converters._base import (
    CONVERTERS,
    ConversionResult,
    Converter,
    ConvertOptions,
    box_record,
    clip_unit,
    details,
    find_image,
    require_exists,
)
from automl.engine.data.masks import mask_to_polygons, rle_decode
from automl.engine.data.tasks import DETECTION, MULTILABEL, SEGMENTATION
from automl.engine.errors import DataError

# Azure's coco2jsonl rule: a bbox whose largest value is below 1.5 is already normalised.
NORMALISED_BBOX_LIMIT = 1.5


@CONVERTERS.register("coco")
class CocoConverter(Converter):
    """A COCO `instances` JSON (+ its image folder) -> detection, segmentation or tags."""

    tasks = (DETECTION, SEGMENTATION, MULTILABEL)
    default_task = DETECTION

    def convert(self, source: Path, task: str, options: ConvertOptions) -> ConversionResult:
        document = _load(require_exists(source, "COCO JSON"))
        names = {c["id"]: c["name"] for c in document.get("categories", [])}
        by_image = defaultdict(list)
        for annotation in document.get("annotations", []):
            by_image[annotation["image_id"]].append(annotation)
        folders = _image_folders(source, options.images)
        result = ConversionResult(task=task, records=[])
        for image in document["images"]:
            path = find_image(image["file_name"], folders)
            objects = [
                obj
                for a in by_image.get(image["id"], [])
                if (obj := _convert_annotation(a, image, names, task, result.warnings))
            ]
            label = sorted({o["label"] for o in objects}) if task == MULTILABEL else objects
            result.records.append(
                {
                    "image_url": str(path),
                    "image_details": details(path, image.get("width"), image.get("height")),
                    "label": label,
                }
            )
        return result


def _load(source: Path) -> dict:
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise DataError(f"{source}: not a COCO file (no 'images' list)")
    return document


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
