"""Tiny real images, full parameter sets and trial specs for the training tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

BUNDLED_FLOWERS = Path(__file__).resolve().parents[2] / "examples" / "data" / "flowers5"
SHARED_FLOWERS = Path("/work/shared/datasets/flowers5")
CLASSES = ("daisy", "dandelion", "roses", "sunflowers")
YELLOW = {"dandelion", "sunflowers"}

# Reference §3.3/§3.4 defaults for a classification trial (what resolve_trial_parameters
# gives), shrunk where tests need speed.
BASE_PARAMETERS = {
    "model_name": "test_tiny_cnn",
    "number_of_epochs": 2,
    "training_batch_size": 8,
    "validation_batch_size": 8,
    "learning_rate": 0.01,
    "learning_rate_scheduler": "warmup_cosine",
    "warmup_cosine_lr_cycles": 0.45,
    "warmup_cosine_lr_warmup_epochs": 2,
    "step_lr_gamma": 0.5,
    "step_lr_step_size": 5,
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "nesterov": True,
    "beta1": 0.9,
    "beta2": 0.999,
    "ams_gradient": False,
    "gradient_accumulation_step": 1,
    "early_stopping": True,
    "early_stopping_patience": 5,
    "early_stopping_delay": 5,
    "evaluation_frequency": 1,
    "checkpoint_frequency": None,
    "layers_to_freeze": None,
    "number_of_workers": 0,
    "random_seed": 7,
    "weighted_loss": 0,
    "training_crop_size": 32,
    "validation_crop_size": 32,
    "validation_resize_size": 36,
    "pretrained": False,
    "advanced_settings": {
        "stream_image_files": False,
        "apply_automl_train_augmentations": True,
        "apply_mosaic_for_yolo": True,
    },
}


def source_images(split: str, name: str) -> list[Path]:
    """Images of one class: the bundled dataset when present, else the shared copy."""
    annotations = BUNDLED_FLOWERS / split / "annotations.jsonl"
    if annotations.is_file():
        rows = [json.loads(line) for line in annotations.read_text().splitlines() if line]
        found = sorted(annotations.parent / r["image_url"] for r in rows if r["label"] == name)
    else:
        folder = SHARED_FLOWERS / ("val" if split == "valid" else split) / name
        found = sorted(folder.glob("*.jpg"))
    if not found:
        raise FileNotFoundError(f"no flowers5 images for {split}/{name}")
    return found


def make_tiny_dataset(root: Path, n_train: int, n_valid: int, size: int, classes=CLASSES) -> dict:
    """Shrink real photos into `root` and write multi-class and multi-label manifests."""
    manifests = {}
    for split, count in (("train", n_train), ("valid", n_valid)):
        multiclass, multilabel = [], []
        for name in classes:
            for i, src in enumerate(source_images(split, name)[:count]):
                dst = root / split / f"{name}_{i}.jpg"
                dst.parent.mkdir(parents=True, exist_ok=True)
                with Image.open(src) as image:
                    image.convert("RGB").resize((size, size)).save(dst, quality=90)
                record = {"image_url": str(dst), "source": f"{src.name}:1"}
                multiclass.append({**record, "label": name})
                multilabel.append(
                    {**record, "label": [name, "yellow"] if name in YELLOW else [name]}
                )
        manifests[split] = {
            "image_classification": write_jsonl(root / f"{split}_mc.jsonl", multiclass),
            "image_classification_multilabel": write_jsonl(root / f"{split}_ml.jsonl", multilabel),
        }
    labels = {
        "image_classification": sorted(classes),
        "image_classification_multilabel": sorted({*classes, "yellow"}),
    }
    return {"root": root, "manifests": manifests, "labels": labels}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def full_parameters(**overrides) -> dict:
    return {**BASE_PARAMETERS, **overrides}


def write_spec(trial_dir: Path, dataset: dict, task: str = "image_classification", **kwargs):
    """spec.json per the trial contract; kwargs: params (overrides), resume, study, ..."""
    trial_dir.mkdir(parents=True, exist_ok=True)
    primary = "iou" if task.endswith("multilabel") else "accuracy"
    spec = {
        "version": 1,
        "job_name": "test-job",
        "run_dir": str(trial_dir.parent),
        "trial_number": 0,
        "trial_dir": str(trial_dir),
        "task": task,
        "primary_metric": {"name": primary, "goal": "maximize"},
        "training_parameters": full_parameters(**kwargs.pop("params", {})),
        "params": {},
        "data": {
            "train_manifest": str(dataset["manifests"]["train"][task]),
            "valid_manifest": str(dataset["manifests"]["valid"][task]),
            "labels": dataset["labels"][task],
        },
        "device": "cpu",
        "n_threads": 1,
        "resume": False,
        "study": None,
    }
    spec.update(kwargs)
    path = trial_dir / "spec.json"
    path.write_text(json.dumps(spec, indent=2))
    return path


@pytest.fixture(scope="session")
def tiny_flowers(tmp_path_factory) -> dict:
    """Real flower photos shrunk to 48 px: 4 classes x (6 train + 3 valid) images."""
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny_flowers"), 6, 3, 48)


@pytest.fixture
def dataset_maker():
    return make_tiny_dataset


@pytest.fixture
def spec_writer():
    return write_spec


@pytest.fixture
def params():
    return full_parameters


def trial_command(spec_path: Path) -> list[str]:
    return [sys.executable, "-m", "automl.engine.training.trial", str(spec_path)]


def trial_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture
def run_trial_process():
    """Run the trial runner as the sweep controller does: own process, log in trial.log."""

    def launch(spec_path: Path, timeout: float = 240) -> int:
        with open(spec_path.parent / "trial.log", "w") as log:
            proc = subprocess.run(
                trial_command(spec_path),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                env=trial_env(),
                start_new_session=True,
            )
        return proc.returncode

    return launch


@pytest.fixture
def start_trial_process():
    """Start the trial runner without waiting (for SIGTERM tests)."""
    procs = []

    def start(spec_path: Path) -> subprocess.Popen:
        log = open(spec_path.parent / "trial.log", "w")  # noqa: SIM115 (closed by the process end)
        proc = subprocess.Popen(
            trial_command(spec_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=trial_env(),
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
