"""Examples are tests: every bundled job validates, and Azure's own job files run unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl import schemas
from automl.engine.config import load_job, render_job_yaml, rendered_job

REPO_ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = REPO_ROOT / "examples" / "jobs"
EXAMPLES = sorted(JOBS_DIR.glob("*.yml"))
REQUIRED_EXAMPLES = {
    "demo_classification.yml",
    "classification_multilabel.yml",
    "object_detection.yml",
    "instance_segmentation.yml",
    "automode.yml",
    "sweep_bandit.yml",
    "incremental_training.yml",
}
DATA_READY = all(
    (REPO_ROOT / "examples" / "data" / name).is_dir()
    for name in ("flowers5", "chess_multilabel", "raccoon", "coco_seg")
)


def test_required_examples_exist():
    assert {path.name for path in EXAMPLES} >= REQUIRED_EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates_without_data(path):
    job = load_job(path, check_paths=False)
    assert job.warnings == []
    assert path.read_text().startswith("# yaml-language-server: $schema=../../schemas/")


@pytest.mark.skipif(not DATA_READY, reason="bundled datasets not in examples/data yet")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates_fully(path):
    load_job(path)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_render_round_trips(path, tmp_path):
    job = load_job(path, check_paths=False)
    rendered = tmp_path / "job.resolved.yml"
    rendered.write_text(render_job_yaml(job))
    # The rendered file is a job that renders to itself; values it fills into sub-spaces
    # that do not search a key are the defaults their trials used anyway.
    assert rendered_job(load_job(rendered, check_paths=False)) == rendered_job(job)


def test_example_schema_line_points_at_the_schema_file():
    for path in EXAMPLES:
        first = path.read_text().splitlines()[0]
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == schemas.schema_file()


def test_examples_cover_every_task_and_mode():
    jobs = [load_job(path, check_paths=False) for path in EXAMPLES]
    assert {job.task for job in jobs} == set(schemas.TASKS)
    assert {job.mode for job in jobs} == {"single", "automode", "sweep"}
    sweep = load_job(JOBS_DIR / "sweep_bandit.yml", check_paths=False)
    assert len(sweep.resolved["search_space"]) == 2
    assert sweep.resolved["sweep"]["early_termination"]["type"] == "bandit"
    incremental = load_job(JOBS_DIR / "incremental_training.yml", check_paths=False)
    assert incremental.resolved["training_parameters"]["checkpoint_run_id"]


def test_demo_is_small_and_offline():
    job = load_job(JOBS_DIR / "demo_classification.yml", check_paths=False)
    parameters = job.resolved["training_parameters"]
    assert parameters["model_name"] == "resnet18" and parameters["pretrained"] is False
    assert parameters["training_crop_size"] <= 160 and parameters["number_of_epochs"] <= 15
    assert job.resolved["training_data"]["path"].endswith("examples/data/flowers5/train")


# Job files as the Azure documentation and azureml-examples show them (reference 2, 12).
AZURE_CLASSIFICATION_SWEEP = """\
$schema: https://azuremlsdk2.blob.core.windows.net/preview/0.0.1/autoMLJob.schema.json
type: automl

experiment_name: dpv2-cli-automl-image-classification-experiment
description: A multi-class Image classification job using fridge items dataset

compute: azureml:gpu-cluster

task: image_classification
log_verbosity: debug
primary_metric: accuracy

target_column_name: label
training_data:
  # Update the path, if prepare_data.py is using data_path other than "./data/"
  path: data/training-mltable-folder
  type: mltable
validation_data:
  path: data/validation-mltable-folder
  type: mltable

limits:
  timeout_minutes: 60
  max_trials: 10
  max_concurrent_trials: 2

training_parameters:
  early_stopping: True
  evaluation_frequency: 1

sweep:
  sampling_algorithm: random
  early_termination:
    type: bandit
    evaluation_interval: 2
    slack_factor: 0.2
    delay_evaluation: 6

search_space:
  - model_name:
      type: choice
      values: [vitb16r224, vits16r224]
    learning_rate:
      type: uniform
      min_value: 0.001
      max_value: 0.01
    number_of_epochs:
      type: choice
      values: [15, 30]

  - model_name:
      type: choice
      values: [seresnext, resnet50]
    learning_rate:
      type: uniform
      min_value: 0.001
      max_value: 0.01
    layers_to_freeze:
      type: choice
      values: [0, 2]
"""

AZURE_DETECTION_SWEEP = """\
$schema: https://azuremlsdk2.blob.core.windows.net/preview/0.0.1/autoMLJob.schema.json
type: automl
experiment_name: dpv2-cli-automl-image-object-detection-experiment
compute: azureml:gpu-cluster
task: image_object_detection
primary_metric: MeanAveragePrecision
target_column_name: label
training_data:
  path: azureml:odFridgeObjectsTrainingDataset:1
  type: mltable
  mode: direct
validation_data:
  path: data/validation-mltable-folder
  type: mltable
limits:
  timeout_minutes: 60
  max_trials: 10
  max_concurrent_trials: 2
training_parameters:
  early_stopping: True
  evaluation_frequency: 1
sweep:
  sampling_algorithm: Random
  early_termination:
    type: bandit
    evaluation_interval: 2
    slack_factor: 0.2
    delay_evaluation: 6
search_space:
  - model_name:
      type: choice
      values: [yolov5]
    learning_rate:
      type: uniform
      min_value: 0.0001
      max_value: 0.01
    model_size:
      type: choice
      values: [small, medium]
  - model_name:
      type: choice
      values: [fasterrcnn_resnet50_fpn]
    learning_rate:
      type: uniform
      min_value: 0.0001
      max_value: 0.001
    optimizer:
      type: choice
      values: [sgd, adam, adamw]
    min_size:
      type: choice
      values: [600, 800]
"""

AZURE_SEGMENTATION_AUTOMODE = """\
$schema: https://azuremlsdk2.blob.core.windows.net/preview/0.0.1/autoMLJob.schema.json
type: automl
experiment_name: dpv2-cli-automl-image-instance-segmentation-experiment
description: An Image Instance segmentation job using fridge items dataset
compute: azureml:gpu-cluster
task: image_instance_segmentation
log_verbosity: debug
primary_metric: mean_average_precision
target_column_name: label
training_data:
  path: data/training-mltable-folder
  type: mltable
validation_data:
  path: data/validation-mltable-folder
  type: mltable
limits:
  timeout_minutes: 60
  max_trials: 10
  max_concurrent_trials: 2
training_parameters:
  early_stopping: True
  evaluation_frequency: 1
"""


def _azure_folder(tmp_path: Path, text: str) -> Path:
    for name in ("training-mltable-folder", "validation-mltable-folder"):
        (tmp_path / "data" / name).mkdir(parents=True, exist_ok=True)
    path = tmp_path / "job.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text",
    [AZURE_CLASSIFICATION_SWEEP, AZURE_SEGMENTATION_AUTOMODE],
    ids=["classification_sweep", "segmentation_automode"],
)
def test_azure_job_files_validate_unchanged(tmp_path, text):
    job = load_job(_azure_folder(tmp_path, text))
    assert any("runs on this machine" in w for w in job.warnings)
    assert job.mode in ("sweep", "automode")


def test_azure_detection_job_only_needs_local_data(tmp_path):
    from automl.engine.errors import ConfigError

    path = _azure_folder(tmp_path, AZURE_DETECTION_SWEEP)
    with pytest.raises(ConfigError) as caught:
        load_job(path)
    assert len(caught.value.issues) == 1  # everything else is accepted as Azure wrote it
    assert (
        "$.training_data.path: 'azureml:odFridgeObjectsTrainingDataset:1' is a cloud"
        in (caught.value.issues[0])
    )
    local = AZURE_DETECTION_SWEEP.replace(
        "azureml:odFridgeObjectsTrainingDataset:1", "data/training-mltable-folder"
    )
    job = load_job(_azure_folder(tmp_path, local))
    assert job.primary_metric == "mean_average_precision"
