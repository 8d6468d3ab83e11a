"""The one job-file factory of the tests: the smallest valid job on the bundled data.

`write_job(folder, task=..., model=..., epochs=..., **overrides)` writes a job that trains a
tiny model from scratch (offline, one process, small images) for 1 epoch by default. An
override whose name is a top-level job key (`limits`, `sweep`, `search_space`, `name`, ...)
sets that key; any other name sets a training parameter; the value None removes the key.
`training_data`/`validation_data` may also be a folder (its annotations.jsonl is the table).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from _support.paths import BUNDLED_DATA_DIR

# task -> (bundled dataset, tiny model)
TASKS = {
    "image_classification": ("flowers5", "test_tiny_cnn"),
    "image_classification_multilabel": ("chess_multilabel", "test_tiny_cnn"),
    "image_object_detection": ("raccoon", "test_tiny_fasterrcnn"),
    "image_instance_segmentation": ("coco_seg", "test_tiny_maskrcnn"),
}

# The smallest sizes each model family trains at (bundled images are 64-256 px).
CLASSIFICATION_SIZES = {
    "training_batch_size": 32,
    "validation_batch_size": 50,
    "training_crop_size": 32,
    "validation_resize_size": 36,
    "validation_crop_size": 32,
}
DETECTION_SIZES = {
    "training_batch_size": 4,
    "validation_batch_size": 4,
    "min_size": 96,
    "max_size": 128,
    "box_score_threshold": 0.01,
    "box_detections_per_image": 20,
}
YOLO_SIZES = {
    "training_batch_size": 2,
    "validation_batch_size": 4,
    "image_size": 64,
    "box_score_threshold": 0.001,
}


def top_level_keys() -> frozenset[str]:
    """The keys of a job file (the job schema's properties); the rest are training keys."""
    from automl import schemas

    return frozenset(schemas.load_schema()["properties"])


def _sizes(task: str, model: str) -> dict[str, Any]:
    if "yolo" in model:
        return YOLO_SIZES
    return CLASSIFICATION_SIZES if task.startswith("image_classification") else DETECTION_SIZES


def _table(value: str | Path | dict) -> dict:
    return value if isinstance(value, dict) else {"type": "mltable", "path": str(value)}


def job_dict(
    task: str = "image_classification",
    *,
    model: str | None = None,
    epochs: int = 1,
    data: str | Path | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The job `write_job` writes, as a dict. `data`: a bundled dataset name or a folder
    holding train/ and valid/ (default: the task's bundled dataset)."""
    dataset, tiny_model = TASKS[task]
    model = model or tiny_model
    root = BUNDLED_DATA_DIR / dataset if data is None else BUNDLED_DATA_DIR / data
    training = {"model_name": model, "pretrained": False, "number_of_epochs": epochs,
                **_sizes(task, model), "number_of_workers": 0, "random_seed": 1}  # fmt: skip
    job = {"type": "automl", "task": task, "target_column_name": "label",
           "training_data": _table(root / "train"), "validation_data": _table(root / "valid"),
           "training_parameters": training}  # fmt: skip
    top = top_level_keys()
    for key, value in overrides.items():
        target = job if key in top else training
        if value is None:
            target.pop(key, None)
        elif key in ("training_data", "validation_data"):
            job[key] = _table(value)
        elif key == "training_parameters":
            training.update(value)
        else:
            target[key] = value
    return job


def job_yaml(job: dict[str, Any]) -> str:
    """`job` as YAML text, keys in the order given."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    stream = io.StringIO()
    yaml.dump(job, stream)
    return stream.getvalue()


def write_job(
    folder: Path,
    task: str = "image_classification",
    *,
    filename: str = "job.yml",
    **options: Any,
) -> Path:
    """Write `job_dict(task, **options)` to folder/filename (folders made) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(job_yaml(job_dict(task, **options)))
    return path
