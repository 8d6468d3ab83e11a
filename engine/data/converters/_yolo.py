"""YOLO txt labels (detection `cls cx cy w h`, segmentation `cls x1 y1 x2 y2 ...`).

One label file per image, same stem; an image without a label file has no objects
(YOLO's convention for background images). Class names come from a names file: YAML
(`names:` as a list or an id -> name mapping, as ultralytics writes) or plain text (one
name per line, darknet's `obj.names`/`classes.txt`).
"""

from __future__ import annotations

from pathlib import Path

from automl.engine.data.converters._base import (
    CONVERTERS,
    ConversionResult,
    Converter,
    ConvertOptions,
    box_record,
    check_count,
    check_labels,
    clip_unit,
    details,
    is_image,
    require_exists,
)
from automl.engine.data.tasks import DETECTION, SEGMENTATION
from automl.engine.errors import DataError, UsageError
from automl.engine.utils.files import read_text_bounded

NAMES_FILES = ("names.yaml", "data.yaml", "dataset.yaml", "classes.txt", "obj.names")


@CONVERTERS.register("yolo")
class YoloConverter(Converter):
    """A folder of YOLO label files plus its image folder -> detection or segmentation."""

    tasks = (DETECTION, SEGMENTATION)
    default_task = DETECTION

    def resolve_task(self, task: str | None, source: Path) -> str:
        if task is None and _looks_like_segmentation(source):
            return SEGMENTATION
        return super().resolve_task(task, source)

    def convert(self, source: Path, task: str, options: ConvertOptions) -> ConversionResult:
        labels_dir = require_exists(source, "YOLO labels folder")
        names = read_names(options.names or _find_names(labels_dir))
        images_dir = options.images or _find_images_dir(labels_dir)
        result = ConversionResult(task=task, records=[])
        images = sorted(p for p in images_dir.iterdir() if is_image(p))
        check_count(len(images), images_dir, "images")
        for image in images:
            label_file = labels_dir / f"{image.stem}.txt"
            objects = _read_label_file(label_file, names, task) if label_file.is_file() else []
            result.records.append(
                {
                    "image_url": str(image.absolute()),
                    "image_details": details(image),
                    "label": objects,
                }
            )
        return result


def read_names(path: Path) -> dict[int, str]:
    """Class id -> name from a YAML names file or a one-name-per-line text file."""
    require_exists(path, "class names file")
    text = read_text_bounded(path, "manifest_file_bytes", "class names file")
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml_names(path, text)
    return dict(enumerate(line.strip() for line in text.splitlines() if line.strip()))


def _yaml_names(path: Path, text: str) -> dict[int, str]:
    from ruamel.yaml import YAML, YAMLError

    try:
        document = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise DataError(f"{path}: not valid YAML: {exc}") from None
    names = document.get("names") if isinstance(document, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        raise DataError(f"{path}: no 'names' list or mapping")
    # Only scalars: an aliased list as a "name" would be expanded by str() (a YAML bomb).
    if not all(_is_scalar(k) and _is_scalar(v) for k, v in names.items()):
        raise DataError(f"{path}: 'names' must map class ids to plain names (strings)")
    try:
        return {int(k): str(v) for k, v in names.items()}
    except ValueError:
        raise DataError(f"{path}: 'names' keys must be class ids (0, 1, ...)") from None


def _is_scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def _find_names(labels_dir: Path) -> Path:
    for folder in (labels_dir, labels_dir.parent):
        for name in NAMES_FILES:
            if (folder / name).is_file():
                return folder / name
    raise UsageError(
        f"{labels_dir}: no class names file ({', '.join(NAMES_FILES)}) found here or one level "
        "up; pass --names FILE"
    )


def _find_images_dir(labels_dir: Path) -> Path:
    parts = labels_dir.absolute().parts
    candidates = [labels_dir.parent / "images"]
    if "labels" in parts:  # ultralytics layout: .../labels/train -> .../images/train
        i = len(parts) - 1 - parts[::-1].index("labels")
        candidates.insert(0, Path(*parts[:i], "images", *parts[i + 1 :]))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise UsageError(f"{labels_dir}: cannot find the image folder; pass --images DIR")


def _looks_like_segmentation(labels_dir: Path) -> bool:
    for file in sorted(labels_dir.glob("*.txt"))[:20]:
        for line in _read_lines(file):
            if line.strip():
                return len(line.split()) > 5
    return False


def _read_lines(file: Path) -> list[str]:
    return read_text_bounded(file, "manifest_file_bytes", "YOLO label file").splitlines()


def _read_label_file(file: Path, names: dict[int, str], task: str) -> list[dict]:
    objects = []
    for number, line in enumerate(_read_lines(file), start=1):
        fields = line.split()
        if not fields:
            continue
        check_labels(len(objects) + 1, file)
        try:
            class_id, values = int(fields[0]), [float(v) for v in fields[1:]]
        except (ValueError, OverflowError):
            raise DataError(f"{file}:{number}: not a YOLO line (class id then numbers)") from None
        if class_id not in names:
            raise DataError(f"{file}:{number}: class id {class_id} is not in the names file")
        objects.append(_object(names[class_id], values, task, f"{file}:{number}"))
    return objects


def _object(label: str, values: list[float], task: str, where: str) -> dict:
    if len(values) == 4:  # cx cy w h
        cx, cy, w, h = values
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        if task == SEGMENTATION:
            x1, y1, x2, y2 = (clip_unit(v) for v in box)
            return {"label": label, "isCrowd": False, "polygon": [[x1, y1, x2, y1, x2, y2, x1, y2]]}
        return box_record(label, box)
    if len(values) < 6 or len(values) % 2:
        raise DataError(f"{where}: expected 4 box values or an even number (>= 6) of points")
    points = [clip_unit(v) for v in values]
    if task == SEGMENTATION:
        return {"label": label, "isCrowd": False, "polygon": [points]}
    xs, ys = points[0::2], points[1::2]
    return box_record(label, (min(xs), min(ys), max(xs), max(ys)))
