"""Defaults, normalisation, overrides, modes and per-trial parameters of resolved jobs."""

from __future__ import annotations

import json

import pytest
from config_jobs import job_text  # tests/config/config_jobs.py

from automl import schemas
from automl.engine.config import load_job, render_job_yaml, resolve_trial_parameters
from automl.engine.errors import ConfigError

OD = "image_object_detection"


def test_single_job_shows_every_default(write_job):
    job = load_job(write_job(job_text()))
    assert job.mode == "single"
    assert job.primary_metric == "accuracy"
    parameters = job.resolved["training_parameters"]
    assert set(parameters) == set(schemas.task_defaults("image_classification"))
    assert parameters["model_name"] == "seresnext"
    assert job.resolved["limits"] == {
        "max_trials": 1,
        "max_concurrent_trials": 1,
        "timeout_minutes": 10080,
        "trial_timeout_minutes": None,
    }
    assert job.resolved["validation_data_size"] == 0.2
    assert job.resolved["compute"] == "local"
    assert json.loads(parameters["advanced_settings"]) == schemas.advanced_settings_defaults()


def test_data_paths_are_absolute_against_the_job_folder(write_job, tmp_path, monkeypatch):
    path = write_job(job_text("validation_data: {path: valid}\n"))
    monkeypatch.chdir("/")
    job = load_job(path)
    assert job.resolved["training_data"]["path"] == str(tmp_path / "train")
    assert job.resolved["validation_data"]["path"] == str(tmp_path / "valid")
    assert "validation_data_size" not in job.resolved  # validation_data given: no split


def test_model_defaults_apply(write_job):
    job = load_job(write_job(job_text("training_parameters: {model_name: vitb16r224}\n")))
    parameters = job.resolved["training_parameters"]
    assert (parameters["training_batch_size"], parameters["learning_rate"]) == (48, 0.0125)


def test_multilabel_learning_rates(write_job):
    job = load_job(write_job(job_text(task="image_classification_multilabel")))
    assert job.primary_metric == "iou"
    assert job.resolved["training_parameters"]["learning_rate"] == 0.035


def test_yolo_defaults_and_excluded_keys(write_job):
    job = load_job(write_job(job_text("training_parameters: {model_name: yolov5}\n", OD)))
    parameters = job.resolved["training_parameters"]
    assert parameters["number_of_epochs"] == 30
    assert parameters["image_size"] == 640
    assert parameters["box_score_threshold"] == 0.1
    assert "min_size" not in parameters


def test_user_values_win_over_model_defaults(write_job):
    text = job_text("training_parameters: {model_name: vitb16r224, training_batch_size: 8}\n")
    job = load_job(write_job(text))
    assert job.resolved["training_parameters"]["training_batch_size"] == 8
    assert job.user_training_parameters == {"model_name": "vitb16r224", "training_batch_size": 8}


def test_sweep_leaves_searched_and_model_dependent_keys_to_trials(write_job):
    text = job_text("""\
        limits: {max_trials: 4}
        sweep: {sampling_algorithm: Random}
        search_space:
          - model_name: {type: choice, values: [resnet18, vitb16r224]}
            learning_rate: {type: Uniform, min_value: 0.001, max_value: 0.01}
        """)
    job = load_job(write_job(text))
    assert job.mode == "sweep"
    parameters = job.resolved["training_parameters"]
    assert "model_name" not in parameters and "learning_rate" not in parameters
    assert "training_batch_size" in job.per_trial_keys
    assert job.resolved["sweep"]["sampling_algorithm"] == {
        "type": "random",
        "seed": None,
        "rule": "random",
    }
    assert job.resolved["search_space"][0]["learning_rate"]["type"] == "uniform"
    assert "per trial" in render_job_yaml(job)


def test_automode(write_job):
    job = load_job(write_job(job_text("limits: {max_trials: 5}\n")))
    assert job.mode == "automode"


@pytest.mark.parametrize(
    ("extra", "path", "expected"),
    [
        ("primary_metric: MeanAveragePrecision\n", ("primary_metric",), "mean_average_precision"),
        (
            "training_parameters: {optimizer: Adam, log_training_metrics: enable}\n",
            ("training_parameters", "optimizer"),
            "adam",
        ),
        (
            "training_parameters: {log_training_metrics: enable}\n",
            ("training_parameters", "log_training_metrics"),
            "Enable",
        ),
        (
            "training_parameters: {validation_metric_type: CocoVoc}\n",
            ("training_parameters", "validation_metric_type"),
            "coco_voc",
        ),
        ("log_verbosity: DEBUG\n", ("log_verbosity",), "debug"),
    ],
)
def test_azure_spellings_are_normalised(write_job, extra, path, expected):
    job = load_job(write_job(job_text(extra, OD)))
    value = job.resolved
    for part in path:
        value = value[part]
    assert value == expected


def test_distribution_type_spelling(write_job):
    text = job_text("""\
        sweep: {sampling_algorithm: {type: Random, seed: 3, rule: Sobol}}
        search_space: [{learning_rate: {type: LogUniform, min_value: -6, max_value: -2}}]
        """)
    job = load_job(write_job(text))
    assert job.resolved["search_space"][0]["learning_rate"]["type"] == "loguniform"
    assert job.resolved["sweep"]["sampling_algorithm"]["rule"] == "sobol"


def test_overrides(write_job):
    text = job_text("""\
        sweep: {sampling_algorithm: random}
        search_space: [{learning_rate: {type: uniform, min_value: 0.001, max_value: 0.01}}]
        """)
    job = load_job(
        write_job(text),
        [
            "limits.max_trials=4",
            "search_space.0.learning_rate.max_value=0.1",
            "search_space[0].learning_rate.min_value=0.002",
            "training_parameters.optimizer=adamw",
            "tags={team: vision}",
        ],
    )
    assert job.resolved["limits"]["max_trials"] == 4
    assert job.resolved["search_space"][0]["learning_rate"]["max_value"] == 0.1
    assert job.resolved["search_space"][0]["learning_rate"]["min_value"] == 0.002
    assert job.raw["training_parameters"] == {"optimizer": "adamw"}
    assert job.raw["tags"] == {"team": "vision"}
    assert job.overrides[0] == "limits.max_trials=4"


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        (
            "limits.max_trail=3",
            "--set limits.max_trail=3: $.limits.max_trail: unknown key; did you mean 'max_trials'?",
        ),
        (
            "limits.max_trials=lots",
            "--set limits.max_trials=lots: $.limits.max_trials: expected integer",
        ),
        ("search_space.3.learning_rate=0.1", "index 3 is out of range"),
        ("limits", "expected key.path=value"),
        ("task.x=1", "not a mapping"),
        ("tags=[unclosed", "not valid YAML"),
        ("limits..max_trials=2", "empty part"),
        ("search_space[x].learning_rate=1", "write list indexes as .0 or [0]"),
        ("search_space[3].learning_rate=0.1", "index 3 is out of range"),
    ],
)
def test_bad_overrides(write_job, override, fragment):
    text = job_text("sweep: {sampling_algorithm: random}\nsearch_space: [{model_name: resnet18}]\n")
    with pytest.raises(ConfigError) as caught:
        load_job(write_job(text), [override])
    assert any(fragment in issue for issue in caught.value.issues), caught.value.issues


def test_render_output_is_a_valid_job(write_job, tmp_path):
    text = job_text("""\
        limits: {max_trials: 4}
        sweep:
          sampling_algorithm: random
          early_termination: {type: bandit, slack_factor: 0.2}
        search_space:
          - model_name: {type: choice, values: [resnet18]}
            learning_rate: {type: uniform, min_value: 0.001, max_value: 0.01}
        training_parameters:
          advanced_settings: '{"stream_image_files": true}'
        """)
    job = load_job(write_job(text))
    rendered = tmp_path / "elsewhere" / "job.resolved.yml"
    rendered.parent.mkdir()
    rendered.write_text(render_job_yaml(job))
    again = load_job(rendered)
    assert again.resolved == job.resolved
    assert job.resolved["sweep"]["early_termination"]["evaluation_interval"] == 1


def test_trial_parameters_use_model_then_task_defaults():
    params = resolve_trial_parameters("image_classification", {"model_name": "vitb16r224"})
    assert params["training_batch_size"] == 48
    assert params["learning_rate"] == 0.0125
    assert params["number_of_epochs"] == 15
    assert params["advanced_settings"] == {
        "stream_image_files": False,
        "apply_automl_train_augmentations": True,
        "apply_mosaic_for_yolo": True,
    }
    assert params["pretrained"] is True


def test_trial_parameters_default_model_and_user_values():
    params = resolve_trial_parameters(
        "image_object_detection",
        {"learning_rate": 0.02, "advanced_settings": '{"apply_mosaic_for_yolo": false}'},
    )
    assert params["model_name"] == "fasterrcnn_resnet50_fpn"
    assert params["learning_rate"] == 0.02
    assert params["advanced_settings"]["apply_mosaic_for_yolo"] is False
    assert "image_size" not in params and params["min_size"] == 600


def test_trial_parameters_yolo():
    params = resolve_trial_parameters("image_object_detection", {"model_name": "yolov5"})
    assert (params["number_of_epochs"], params["training_batch_size"]) == (30, 16)
    assert "min_size" not in params


def test_trial_parameters_coerce_integral_floats():
    params = resolve_trial_parameters("image_classification", {"number_of_epochs": 8.0})
    assert params["number_of_epochs"] == 8 and isinstance(params["number_of_epochs"], int)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"learning_rate": 3.0}, "$.learning_rate: 3.0 is above the maximum 1"),
        ({"model_name": "resnet19"}, "did you mean 'resnet18'?"),
        ({"advanced_settings": "{oops"}, "not valid JSON"),
        ({"min_size": 600}, "'min_size' does not apply to task"),
    ],
)
def test_trial_parameters_invalid(params, fragment):
    with pytest.raises(ConfigError) as caught:
        resolve_trial_parameters("image_classification", params)
    assert fragment in str(caught.value)
