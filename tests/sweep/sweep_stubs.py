"""Stand-ins shared by the sweep tests and the out-of-process controller script."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

FAKE_TRIAL = str(Path(__file__).with_name("fake_trial.py"))


@dataclass
class StubJob:
    """The fields of `automl.engine.config.Job` that the controller reads."""

    task: str = "image_classification"
    mode: str = "single"
    resolved: dict = field(default_factory=dict)
    user_training_parameters: dict = field(default_factory=dict)
    primary_metric: str = "accuracy"
    name: str | None = "job"


@dataclass
class StubData:
    train_manifest: Path
    valid_manifest: Path
    labels: list[str]
    n_train: int = 4
    n_valid: int = 2
    leaked_validation_images: int = 0


def stub_resolver(task: str, params: dict) -> dict:
    """A small stand-in for config.resolve_trial_parameters (3 epochs by default)."""
    return {"model_name": "test_tiny_cnn", "learning_rate": 0.01, "number_of_epochs": 3, **params}


def write_manifests(folder: Path, n_train: int = 4) -> StubData:
    folder.mkdir(parents=True, exist_ok=True)
    details = {"width": 64, "height": 48}
    lines = [
        {"image_url": f"/x/{i}.jpg", "label": "ab"[i % 2], "image_details": details}
        for i in range(n_train)
    ]
    train, valid = folder / "train.jsonl", folder / "valid.jsonl"
    train.write_text("".join(json.dumps(line) + "\n" for line in lines))
    valid.write_text("".join(json.dumps(line) + "\n" for line in lines[:2]))
    return StubData(train, valid, ["a", "b"], n_train=n_train)
