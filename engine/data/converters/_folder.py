"""Class folders (`root/<class>/<image>`) for multi-class classification."""

from __future__ import annotations

from pathlib import Path

from automl.engine.data.converters._base import (
    CONVERTERS,
    ConversionResult,
    Converter,
    ConvertOptions,
    check_count,
    details,
    is_image,
    require_exists,
)
from automl.engine.data.tasks import MULTICLASS
from automl.engine.errors import DataError


@CONVERTERS.register("folder")
class FolderConverter(Converter):
    """Every image under `root/<class>/` (any depth) is labelled `<class>`."""

    tasks = (MULTICLASS,)
    default_task = MULTICLASS

    def convert(self, source: Path, task: str, options: ConvertOptions) -> ConversionResult:
        root = require_exists(source, "class folder root")
        classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise DataError(f"{root}: no class sub-folders (expected root/<class>/<image>)")
        result = ConversionResult(task=task, records=[])
        for folder in classes:
            images = sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p))
            check_count(len(result.records) + len(images), root, "images")
            if not images:
                result.warnings.append(f"{folder}: class folder holds no images; skipped")
            result.records += [
                {"image_url": str(p.absolute()), "image_details": details(p), "label": folder.name}
                for p in images
            ]
        loose = [p for p in root.iterdir() if p.is_file() and is_image(p)]
        if loose:
            result.warnings.append(f"{root}: {len(loose)} images outside class folders ignored")
        return result
