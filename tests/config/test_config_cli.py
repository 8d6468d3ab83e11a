"""`automl job validate|render` as a shell sees them: pipelines, --skip-data, --set paths,
render of sub-spaces. Each test runs the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AUTOML = str(Path(sys.executable).with_name("automl"))

# Azure's fridge-items pipeline (azureml-examples, cli/jobs/pipelines/automl), as published.
PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline

description: Pipeline using AutoML Image Multiclass Classification task

display_name: pipeline-with-image-classification
experiment_name: pipeline-with-automl

settings:
  default_compute: azureml:gpu-cluster

inputs:
  image_multiclass_classification_training_data:
    type: mltable
    path: data/training-mltable-folder
  image_multiclass_classification_validation_data:
    type: mltable
    path: data/validation-mltable-folder

jobs:
  image_multiclass_classification_node:
    type: automl
    task: image_classification
    log_verbosity: info
    primary_metric: accuracy
    limits:
      timeout_minutes: 180
      max_trials: 10
      max_concurrent_trials: 2
    target_column_name: label
    training_data: ${{parent.inputs.image_multiclass_classification_training_data}}
    validation_data: ${{parent.inputs.image_multiclass_classification_validation_data}}
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
    training_parameters:
      early_stopping: True
      evaluation_frequency: 1
    # currently need to specify outputs "mlflow_model" explicitly to reference it in following nodes
    outputs:
      best_model:
        type: mlflow_model
  register_model_node:
    type: command
    component: file:./components/component_register_model.yaml
    inputs:
      model_input_path: ${{parent.jobs.image_multiclass_classification_node.outputs.best_model}}
      model_base_name: fridge_items_multiclass_classification_model
"""
JOB = """\
type: automl
task: image_classification
target_column_name: label
training_data: {path: data/train}
"""


def automl(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AUTOML, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_pipeline_runs_its_single_automl_node(tmp_path):
    (tmp_path / "pipeline.yml").write_text(PIPELINE)
    result = automl("job", "validate", "-f", "pipeline.yml", "--skip-data", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "warning: pipeline.yml:21: running the automl node "
        "'image_multiclass_classification_node' of this pipeline; its other nodes are not run "
        "here: register_model_node (command)"
    ) in result.stdout
    assert "valid image_classification job, mode sweep" in result.stdout
    for wrong in ("target_column_name", "queue_settings", "'outputs'"):
        assert wrong not in result.stdout + result.stderr


def test_pipeline_inputs_become_the_node_data(tmp_path):
    (tmp_path / "pipeline.yml").write_text(PIPELINE)
    result = automl("job", "render", "-f", "pipeline.yml", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["training_data"]["path"] == str(tmp_path / "data" / "training-mltable-folder")
    assert job["validation_data"]["type"] == "mltable"
    assert job["experiment_name"] == "pipeline-with-automl"  # inherited from the pipeline


def test_pipeline_problems_point_into_the_node(tmp_path):
    text = PIPELINE.replace("max_trials: 10", "max_trail: 10")
    (tmp_path / "pipeline.yml").write_text(text)
    result = automl("job", "validate", "-f", "pipeline.yml", "--skip-data", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        "pipeline.yml:28: $.jobs.image_multiclass_classification_node.limits.max_trail: "
        "unknown key; did you mean 'max_trials'?"
    ) in result.stdout


def test_pipeline_with_two_automl_nodes_says_how_to_run_one(tmp_path):
    text = PIPELINE.replace(
        "jobs:\n", "jobs:\n  other: {type: automl, task: image_classification}\n"
    )
    (tmp_path / "pipeline.yml").write_text(text)
    result = automl("job", "validate", "-f", "pipeline.yml", "--skip-data", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "this pipeline has 2 automl nodes (other, image_multiclass_classification_node)" in (
        result.stdout
    )
    assert "copy its keys to a job file of their own" in result.stdout


def test_pipeline_reference_to_a_missing_input(tmp_path):
    text = PIPELINE.replace(
        "${{parent.inputs.image_multiclass_classification_validation_data}}",
        "${{parent.inputs.nope}}",
    )
    (tmp_path / "pipeline.yml").write_text(text)
    result = automl("job", "validate", "-f", "pipeline.yml", "--skip-data", cwd=tmp_path)
    assert result.returncode == 1
    assert "pipeline.yml:32:" in result.stdout
    assert "refers to the pipeline input 'nope', which inputs: does not define" in result.stdout


def test_pipeline_output_references_are_explained(tmp_path):
    text = PIPELINE.replace(
        "${{parent.inputs.image_multiclass_classification_validation_data}}",
        "${{parent.jobs.prep.outputs.valid}}",
    )
    (tmp_path / "pipeline.yml").write_text(text)
    result = automl("job", "validate", "-f", "pipeline.yml", "--skip-data", cwd=tmp_path)
    assert result.returncode == 1
    assert "outputs of other nodes do not exist locally" in result.stdout


def test_skip_data_does_not_need_the_data_folders(tmp_path):
    (tmp_path / "job.yml").write_text(JOB)
    result = automl("job", "validate", "-f", "job.yml", "--skip-data", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "valid image_classification job" in result.stdout
    result = automl("job", "validate", "-f", "job.yml", cwd=tmp_path)
    assert result.returncode == 1 and "'data/train' does not exist" in result.stdout


def test_render_does_not_need_the_data(tmp_path):
    (tmp_path / "job.yml").write_text(JOB)
    result = automl("job", "render", "-f", "job.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"path: {tmp_path / 'data' / 'train'}" in result.stdout


def test_render_shows_what_other_sub_spaces_use(tmp_path):
    """Azure's own sweep: number_of_epochs is searched only in the first sub-space and
    layers_to_freeze only in the second; each other sub-space shows the value it uses."""
    (tmp_path / "pipeline.yml").write_text(PIPELINE)
    result = automl("job", "render", "-f", "pipeline.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "    layers_to_freeze: null  # not searched here: the value this sub-space's trials use"
        in result.stdout
    )
    assert (
        "    number_of_epochs: 15  # not searched here: the value this sub-space's trials use"
        in result.stdout
    )
    as_json = json.loads(
        automl("job", "render", "-f", "pipeline.yml", "-o", "json", cwd=tmp_path).stdout
    )
    assert as_json["search_space"][1]["number_of_epochs"] == 15


def test_set_takes_bracket_indexes(tmp_path):
    (tmp_path / "pipeline.yml").write_text(PIPELINE)
    for key in (
        "search_space[1].learning_rate.max_value",
        "search_space.1.learning_rate.max_value",
    ):
        result = automl(
            "job",
            "render",
            "-f",
            "pipeline.yml",
            "-o",
            "json",
            "--set",
            f"{key}=0.05",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["search_space"][1]["learning_rate"]["max_value"] == 0.05


def test_set_with_a_malformed_path(tmp_path):
    (tmp_path / "job.yml").write_text(JOB)
    result = automl(
        "job",
        "validate",
        "-f",
        "job.yml",
        "--skip-data",
        "--set",
        "search_space[x].a=1",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "write list indexes as .0 or [0]" in result.stdout
