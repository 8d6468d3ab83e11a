"""Label parsing per task: Azure's JSONL label shapes, leniently, into one normal form.

Normal forms (what manifests hold):
- multi-class: `"cat"`
- multi-label: `["cat", "dog"]` (may be empty)
- detection: `[{"label", "topX", "topY", "bottomX", "bottomY", "isCrowd": bool}]`, floats in [0, 1]
- segmentation: `[{"label", "isCrowd": bool, "polygon": [[x1, y1, x2, y2, ...], ...]}]`

Lenient forms accepted, as the Azure docs show them: numbers as strings, `isCrowd` as
"true"/"false"/0/1, a single detection object instead of a list, a flat polygon list,
`image_details.width` as `"400px"`. Each parser returns `(value, problems)`: problems are
messages without a location; the reader prefixes the file and line.
"""

from __future__ import annotations

import math
from typing import Any

from automl.engine.data.tasks import DETECTION, MULTICLASS, MULTILABEL, SEGMENTATION
from automl.schemas import limit, limit_hint

# Coordinates a hair outside [0, 1] are float noise from the exporting tool: clip them.
COORD_EPSILON = 1e-6
BOX_KEYS = ("topX", "topY", "bottomX", "bottomY")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def parse_number(value: Any) -> float | None:
    """A finite float from a number or a numeric string; None otherwise (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def parse_bool(value: Any) -> bool | None:
    """True/False from a bool, 0/1, or "true"/"false"/"0"/"1"; None when it is none of those."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def parse_size(value: Any) -> int | None:
    """A positive pixel size from 400, "400" or "400px"; None otherwise."""
    if isinstance(value, str):
        value = value.strip().lower().removesuffix("px").strip()
    number = parse_number(value)
    if number is None or number <= 0 or number != int(number):
        return None
    return int(number)


def parse_class_name(value: Any) -> str | None:
    """A class name from a non-empty string or an integer (stringified)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_label(task: str, value: Any) -> tuple[Any, list[str]]:
    """Normalise one image's label for `task`; returns (label, problems)."""
    parser = _PARSERS[task]
    return parser(value)


def _parse_multiclass(value: Any) -> tuple[Any, list[str]]:
    name = parse_class_name(value)
    if name is not None:
        return name, []
    if isinstance(value, list):
        return None, [
            f"label {_show(value)} is a list; image_classification expects one class name "
            "string (for several classes per image use task image_classification_multilabel)"
        ]
    return None, [f'label {_show(value)} is not a class name; expected a string like "cat"']


def _parse_multilabel(value: Any) -> tuple[Any, list[str]]:
    if not isinstance(value, list):
        return None, [
            f"label {_show(value)} is not a list; image_classification_multilabel expects a "
            'list of class names like ["cat", "dog"] (an empty list is allowed)'
        ]
    if len(value) > limit("labels_per_image"):
        return None, [_too_many_labels(len(value), "class names")]
    names, problems = [], []
    for i, item in enumerate(value):
        name = parse_class_name(item)
        if name is None:
            problems.append(f"label item {i} {_show(item)} is not a class name string")
        elif name not in names:
            names.append(name)
    return names, problems


def _objects(task: str, value: Any) -> tuple[list, list[str]]:
    if isinstance(value, dict):  # the single-object form some Azure docs show
        value = [value]
    if not isinstance(value, list):
        example = '[{"label": "cat", "topX": 0.1, ...}]'
        return [], [f"label {_show(value)} is not a list of objects; {task} expects {example}"]
    if len(value) > limit("labels_per_image"):
        return [], [_too_many_labels(len(value), "objects")]
    return value, []


def _too_many_labels(count: int, what: str) -> str:
    return (
        f"label has {count:,} {what}, more than the limit of {limit('labels_per_image'):,} "
        f"per image; {limit_hint('labels_per_image')}"
    )


def _parse_detection(value: Any) -> tuple[Any, list[str]]:
    items, problems = _objects(DETECTION, value)
    boxes = []
    for i, item in enumerate(items):
        box, item_problems = _parse_box(item)
        problems.extend(f"object {i}: {p}" for p in item_problems)
        if box is not None:
            boxes.append(box)
    return (boxes if not problems else None), problems


def _parse_common(item: Any) -> tuple[dict | None, list[str]]:
    """The `label` and `isCrowd` fields every object has."""
    if not isinstance(item, dict):
        return None, [f"{_show(item)} is not an object with 'label' and coordinates"]
    problems = []
    name = parse_class_name(item.get("label"))
    if name is None:
        problems.append(f"'label' {_show(item.get('label'))} is missing or not a class name")
    crowd = parse_bool(item.get("isCrowd", False))
    if crowd is None:
        problems.append(f"isCrowd {_show(item.get('isCrowd'))} is not true/false/0/1")
    return {"label": name, "isCrowd": bool(crowd)}, problems


def _parse_box(item: Any) -> tuple[dict | None, list[str]]:
    common, problems = _parse_common(item)
    if common is None:
        return None, problems
    coords = {}
    for key in BOX_KEYS:
        number = parse_number(item.get(key))
        if number is None:
            problems.append(f"{key} {_show(item.get(key))} is missing or not a number")
        else:
            coords[key] = number
    if len(coords) == len(BOX_KEYS):
        problems.extend(_box_problems(coords))
    if problems:
        return None, problems
    coords = {key: _clip(v) for key, v in coords.items()}
    return {"label": common["label"], **coords, "isCrowd": common["isCrowd"]}, []


def _box_problems(coords: dict) -> list[str]:
    problems = []
    outside = [f"{k}={v:g}" for k, v in coords.items() if not _in_unit(v)]
    if outside:
        problems.append(
            f"box outside [0, 1]: {', '.join(outside)}; coordinates are fractions of the "
            "image size (pixel / width or height)"
        )
    for low, high in (("topX", "bottomX"), ("topY", "bottomY")):
        if coords[low] >= coords[high]:
            problems.append(
                f"box inverted or empty: {low}={coords[low]:g} >= {high}={coords[high]:g}; "
                f"{low} must be smaller than {high}"
            )
    return problems


def _parse_segmentation(value: Any) -> tuple[Any, list[str]]:
    items, problems = _objects(SEGMENTATION, value)
    instances = []
    for i, item in enumerate(items):
        instance, item_problems = _parse_instance(item)
        problems.extend(f"object {i}: {p}" for p in item_problems)
        if instance is not None:
            instances.append(instance)
    return (instances if not problems else None), problems


def _parse_instance(item: Any) -> tuple[dict | None, list[str]]:
    common, problems = _parse_common(item)
    if common is None:
        return None, problems
    raw = item.get("polygon")
    if isinstance(raw, list) and raw and not isinstance(raw[0], list):
        raw = [raw]  # a flat [x1, y1, ...] list: one segment
    if not isinstance(raw, list) or not raw:
        return None, problems + [
            f"'polygon' {_show(raw)} is missing or empty; expected [[x1, y1, x2, y2, ...], ...]"
        ]
    n_points = sum(len(s) // 2 if isinstance(s, list) else 1 for s in raw)
    if n_points > limit("polygon_points"):
        return None, problems + [
            f"'polygon' has {n_points:,} points, more than the limit of "
            f"{limit('polygon_points'):,} per object; {limit_hint('polygon_points')}"
        ]
    polygon = []
    for j, segment in enumerate(raw):
        points, segment_problems = _parse_segment(segment)
        problems.extend(f"polygon {j}: {p}" for p in segment_problems)
        polygon.append(points)
    if problems:
        return None, problems
    return {"label": common["label"], "isCrowd": common["isCrowd"], "polygon": polygon}, []


def _parse_segment(segment: Any) -> tuple[list[float], list[str]]:
    if not isinstance(segment, list):
        return [], [f"{_show(segment)} is not a list of coordinates"]
    numbers = [parse_number(v) for v in segment]
    if any(n is None for n in numbers):
        return [], ["has a value that is not a number"]
    if len(numbers) % 2:
        return [], [f"has {len(numbers)} values; x and y must come in pairs"]
    if len(numbers) < 6:
        return [], [f"has {len(numbers) // 2} points; a polygon needs at least 3"]
    outside = [n for n in numbers if not _in_unit(n)]
    if outside:
        return [], [
            f"coordinate {outside[0]:g} is outside [0, 1]; polygon coordinates are "
            "fractions of the image width (x) and height (y)"
        ]
    return [_clip(n) for n in numbers], []


def parse_image_details(value: Any) -> tuple[dict, list[str]]:
    """`image_details` -> {"width", "height"} (only the valid sizes given), problems."""
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, [f"image_details {_show(value)} is not an object"]
    details, problems = {}, []
    for key in ("width", "height"):
        if key not in value:
            continue
        size = parse_size(value[key])
        if size is None:
            problems.append(
                f"image_details.{key} {_show(value[key])} is not a positive size "
                '(use 400 or "400px")'
            )
        else:
            details[key] = size
    return details, problems


def label_names(task: str, label: Any) -> list[str]:
    """Class names a normalised label mentions, once per object (for counting)."""
    if task == MULTICLASS:
        return [label]
    if task == MULTILABEL:
        return list(label)
    return [item["label"] for item in label]


def _in_unit(value: float) -> bool:
    return -COORD_EPSILON <= value <= 1 + COORD_EPSILON


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_PARSERS = {
    MULTICLASS: _parse_multiclass,
    MULTILABEL: _parse_multilabel,
    DETECTION: _parse_detection,
    SEGMENTATION: _parse_segmentation,
}
