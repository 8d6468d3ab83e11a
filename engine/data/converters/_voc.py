"""Pascal VOC XML, one file per image (docs/azure-compatibility.md §6.3; `difficult` -> isCrowd).

The source may be a folder of XML files, one XML file, or a dataset root as people have
it: `Annotations/` (or `annotations/`) beside `JPEGImages/` (or `images/`), also inside a
VOCdevkit (`VOCdevkit/VOC2012/`). When the root holds VOC's split lists,
`ImageSets/Main/train.txt` and `val.txt` (`ImageSets/Segmentation/` for instance
segmentation), they are the training/validation split; `trainval.txt` alone selects the
images to convert.

Instance segmentation reads VOC's object masks as well: `SegmentationObject/<image>.png`, a
palette PNG whose pixel value k marks the k-th <object> of the XML (0 background, 255 the
"void" border, which belongs to no object). Each object's mask becomes polygons.
"""

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
    check_count,
    check_image_pixels,
    check_labels,
    details,
    find_image,
    image_size,
    require_exists,
)
from automl.engine.data.masks import mask_to_polygons
from automl.engine.data.tasks import DETECTION, MULTILABEL, SEGMENTATION
from automl.engine.errors import DataError, UsageError
from automl.engine.utils.files import read_bytes_bounded, read_text_bounded


@CONVERTERS.register("voc")
class VocConverter(Converter):
    """A folder of VOC XML files (or one file) -> detection records (or multi-label tags)."""

    tasks = (DETECTION, MULTILABEL, SEGMENTATION)
    default_task = DETECTION

    def convert(self, source: Path, task: str, options: ConvertOptions) -> ConversionResult:
        source = annotation_folder(require_exists(source, "VOC annotation folder or file"))
        files = _xml_files(source)
        folders = _image_folders(source, options.images)
        masks = _mask_folder(source, options.masks) if task == SEGMENTATION else None
        result = ConversionResult(task=task, records=[])
        by_stem: dict[str, dict] = {}
        for file in files:
            root = _parse(file)
            record = _convert_file(file, root, folders, result.warnings)
            if task == MULTILABEL:
                record["label"] = sorted({o["label"] for o in record["label"]})
            if masks is not None:
                record = _with_masks(record, file, root, masks, result.warnings)
            if record is not None:
                by_stem[file.stem] = record
        if masks is not None and not by_stem:
            raise DataError(
                f"{masks}: no object mask PNG for any of the {len(files)} XML files",
                hint="instance segmentation needs VOC's SegmentationObject/<image>.png; "
                "point --masks at that folder",
            )
        result.records = list(by_stem.values())
        if source.is_dir():
            _apply_image_sets(result, by_stem, source.parent / "ImageSets" / _SETS[task])
        return result


ANNOTATION_FOLDERS = ("Annotations", "annotations")
_SETS = {DETECTION: "Main", MULTILABEL: "Main", SEGMENTATION: "Segmentation"}


def annotation_folder(source: Path) -> Path:
    """The folder of XML files behind `source`: itself when it holds some (or is a file),
    else its `Annotations/` or `annotations/`, else that of its one VOCdevkit year folder."""
    if not source.is_dir() or any(source.glob("*.xml")):
        return source
    found = _annotation_subfolder(source)
    if found is not None:
        return found
    nested = [f for p in sorted(source.iterdir()) if p.is_dir() and (f := _annotation_subfolder(p))]
    if len(nested) > 1:
        listed = ", ".join(str(f.parent) for f in nested)
        raise UsageError(f"{source}: holds several VOC datasets ({listed}); convert one of them")
    return nested[0] if nested else source


def _annotation_subfolder(root: Path) -> Path | None:
    for name in ANNOTATION_FOLDERS:
        if (root / name).is_dir():
            return root / name
    return None


def _xml_files(source: Path) -> list[Path]:
    if not source.is_dir():
        return [source]
    files = sorted(source.glob("*.xml"), key=_natural)
    if not files:
        raise DataError(
            f"{source}: no .xml files here nor in an Annotations/ or annotations/ folder",
            hint="point --input at the folder of VOC XML files or at the dataset root "
            "(the folder that holds Annotations/ and JPEGImages/)",
        )
    check_count(len(files), source, "XML files")
    return files


def _apply_image_sets(result: ConversionResult, by_stem: dict[str, dict], folder: Path) -> None:
    """VOC's split lists: train.txt + val.txt become the split, trainval.txt a selection."""
    lists = {name: _read_ids(folder / f"{name}.txt") for name in ("train", "val", "trainval")}
    if lists["train"] is not None and lists["val"] is not None:
        result.splits = {
            "train": _pick(lists["train"], by_stem, folder, result.warnings),
            "valid": _pick(lists["val"], by_stem, folder, result.warnings),
        }
        result.records = result.splits["train"] + result.splits["valid"]
        result.warnings.append(
            f"split as {folder}/train.txt and val.txt say: {len(result.splits['train'])} "
            f"training, {len(result.splits['valid'])} validation images"
        )
    elif lists["trainval"] is not None:
        result.records = _pick(lists["trainval"], by_stem, folder, result.warnings)


def _read_ids(path: Path) -> list[str] | None:
    """Image ids of a VOC split list (first field of each line); None when absent."""
    if not path.is_file():
        return None
    text = read_text_bounded(path, "manifest_file_bytes", "VOC split list")
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def _pick(ids: list[str], by_stem: dict[str, dict], folder: Path, warnings: list[str]) -> list:
    missing = [i for i in ids if i not in by_stem]
    if missing:
        warnings.append(
            f"{folder}: {len(missing)} listed images have no annotation (or no mask); "
            f"skipped, e.g. {', '.join(missing[:3])}"
        )
    return [by_stem[i] for i in dict.fromkeys(ids) if i in by_stem]


def _natural(path: Path) -> list:
    """raccoon-2 before raccoon-10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _image_folders(source: Path, images: Path | None) -> list[Path]:
    if images is not None:
        return [images]
    folder = source.absolute() if source.is_dir() else source.absolute().parent
    return [folder.parent / "images", folder.parent / "JPEGImages", folder]


def _mask_folder(source: Path, given: Path | None) -> Path:
    if given is not None:
        return require_exists(given, "VOC object mask folder (SegmentationObject)")
    folder = source.absolute() if source.is_dir() else source.absolute().parent
    for candidate in (folder.parent / "SegmentationObject", folder / "SegmentationObject"):
        if candidate.is_dir():
            return candidate
    raise DataError(
        f"{source}: no SegmentationObject folder beside the annotations",
        hint="pass the folder of VOC object mask PNGs with --masks",
    )


def _with_masks(
    record: dict, file: Path, root: ET.Element, masks: Path, warnings: list[str]
) -> dict | None:
    """The record with each object's polygons, from its VOC object mask PNG (None when the
    image has no mask: VOC segments only a subset of its images)."""
    path = masks / (Path(record["image_url"]).stem + ".png")
    if not path.is_file():
        warnings.append(f"{file}: no object mask {path.name} in {masks}; image skipped")
        return None
    indices = _object_indices(path, file)
    height, width = indices.shape
    objects = []
    # numbered in XML order, as the PNG numbers them (boxes are not needed here)
    for number, obj in enumerate(root.iter("object"), start=1):
        label = (obj.findtext("name") or "").strip()
        segments = mask_to_polygons(indices == number)
        if not segments:
            warnings.append(f"{file}: object {number} ('{label}') has no mask pixels; skipped")
            continue
        polygon = [
            [min(1.0, max(0.0, v / (width if i % 2 == 0 else height))) for i, v in enumerate(seg)]
            for seg in segments
        ]
        objects.append({"label": label, "isCrowd": _difficult(obj), "polygon": polygon})
    return {**record, "label": objects}


def _object_indices(path: Path, file: Path):
    """The PNG's pixel values (object numbers) as a 2-D array."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise DataError(
                    f"{path}: object masks must be palette or greyscale PNGs (pixel value = "
                    f"object number in {file.name}), got mode {image.mode}"
                )
            check_image_pixels(image.size, path)
            return np.asarray(image)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read the object mask: {exc}") from None


def _parse(file: Path) -> ET.Element:
    # expat refuses entity expansion bombs and never fetches external entities
    data = read_bytes_bounded(file, "manifest_file_bytes", "VOC annotation")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise DataError(f"{file}: not valid XML: {exc}") from None


def _convert_file(file: Path, root: ET.Element, folders: list[Path], warnings: list[str]) -> dict:
    name = root.findtext("filename") or file.with_suffix(".jpg").name
    path = find_image(name, folders)
    width, height = _size(root, path, file)
    if not width or not height:
        raise DataError(f"{file}: no <size> and the image {path} cannot be read for its size")
    elements = list(root.iter("object"))
    check_labels(len(elements), file)
    objects = [_object(obj, width, height, file, warnings) for obj in elements]
    return {
        "image_url": str(path),
        "image_details": details(path, width, height),
        "label": [o for o in objects if o is not None],
    }


def _size(root: ET.Element, path: Path, file: Path) -> tuple[int, int]:
    try:
        width = int(float(root.findtext("size/width") or 0))
        height = int(float(root.findtext("size/height") or 0))
    except (ValueError, OverflowError):
        raise DataError(f"{file}: <size> width or height is not a number") from None
    if width > 0 and height > 0:
        return width, height
    return image_size(path) or (0, 0)


def _object(obj: ET.Element, width: int, height: int, file: Path, warnings) -> dict | None:
    label = (obj.findtext("name") or "").strip()
    try:
        xmin, ymin, xmax, ymax = (
            float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")
        )
    except (TypeError, ValueError, OverflowError):
        warnings.append(f"{file}: object '{label}' has no numeric <bndbox>; skipped")
        return None
    crowd = _difficult(obj)
    return box_record(label, (xmin / width, ymin / height, xmax / width, ymax / height), crowd)


def _difficult(obj: ET.Element) -> bool:
    return (obj.findtext("difficult") or "0").strip() not in ("0", "", "false")
