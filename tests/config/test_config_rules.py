"""Table-driven: one row per rule (job text, expected fragment). Removing a rule fails a row."""

from __future__ import annotations

import pytest
from config_jobs import job_text  # tests/config/config_jobs.py

from automl.engine.config import load_job
from automl.engine.errors import ConfigError

OD = "image_object_detection"
IS = "image_instance_segmentation"
SWEEP = """
limits: {max_trials: 4}
sweep: {sampling_algorithm: random}
"""

SCHEMA_ROWS = [
    # --- load stage -------------------------------------------------------------------
    ("malformed_yaml", "type: automl\ntask: [image_classification\n", "invalid YAML"),
    ("malformed_yaml_line_col", "type: automl\n  task: x\n", "job.yml:2:"),
    ("empty_file", "", "the file is empty"),
    ("only_comments", "# nothing here\n", "only comments"),
    ("not_a_mapping", "- type: automl\n- task: x\n", "must be a mapping"),
    ("scalar_document", "automl\n", "must be a mapping"),
    (
        "duplicate_keys",
        job_text("task: image_classification\n"),
        "duplicate key 'task' (first given on line 2)",
    ),
    (
        "nested_duplicate_keys",
        job_text("limits:\n  max_trials: 2\n  max_trials: 3\n"),
        "job.yml:9: duplicate key 'max_trials' (first given on line 8)",
    ),
    # --- schema: keys ------------------------------------------------------------------
    (
        "missing_required",
        "type: automl\ntask: image_classification\ntraining_data: {path: train}\n",
        "$.target_column_name: missing required key",
    ),
    (
        "missing_data_path",
        job_text("validation_data: {type: mltable}\n"),
        "$.validation_data.path: missing required key",
    ),
    ("unknown_top_key", job_text("target_column: label\n"), "did you mean 'target_column_name'?"),
    (
        "unknown_limits_key",
        job_text("limits: {max_trail: 3}\n"),
        "job.yml:7: $.limits.max_trail: unknown key; did you mean 'max_trials'?",
    ),
    ("misplaced_max_trials", job_text("max_trials: 3\n"), "belongs under limits.max_trials"),
    (
        "early_termination_outside_sweep",
        job_text("early_termination: {type: bandit, slack_factor: 0.1}\n"),
        "belongs under sweep.early_termination",
    ),
    (
        "old_sweep_limits",
        job_text("sweep: {sampling_algorithm: random, limits: {max_trials: 2}}\n"),
        "top-level limits",
    ),
    (
        "hyperparameter_at_top",
        job_text("learning_rate: 0.1\n"),
        "belong under training_parameters.learning_rate",
    ),
    (
        "runtime_name",
        job_text("training_parameters: {lr_scheduler: step}\n"),
        "the job key is 'learning_rate_scheduler'",
    ),
    (
        "unknown_parameter",
        job_text("training_parameters: {learning_rat: 0.1}\n"),
        "did you mean 'learning_rate'?",
    ),
    (
        "parameter_of_other_task",
        job_text("training_parameters: {min_size: 600}\n"),
        "'min_size' does not apply to task 'image_classification'",
    ),
    (
        "tile_grid_for_segmentation",
        job_text("training_parameters: {tile_grid_size: 3x2}\n", IS),
        "'tile_grid_size' does not apply to task 'image_instance_segmentation'",
    ),
    (
        "not_searchable",
        job_text(SWEEP + "search_space: [{checkpoint_run_id: abc}]\n"),
        "cannot be searched",
    ),
    # --- schema: types, ranges, enums --------------------------------------------------
    (
        "wrong_type",
        job_text("training_parameters: {number_of_epochs: ten}\n"),
        "expected integer, got string 'ten'",
    ),
    ("bool_type", job_text("training_parameters: {early_stopping: maybe}\n"), "expected boolean"),
    (
        "above_maximum",
        job_text("training_parameters: {learning_rate: 2}\n"),
        "2 is above the maximum 1",
    ),
    ("below_minimum", job_text("limits: {max_trials: 0}\n"), "0 is below the minimum 1"),
    ("exclusive_maximum", job_text("validation_data_size: 1.5\n"), "must be less than 1"),
    (
        "unknown_task",
        job_text(task="image_clasification"),
        "unknown value 'image_clasification'; did you mean 'image_classification'?",
    ),
    (
        "unknown_model",
        job_text("training_parameters: {model_name: resnet19}\n"),
        "did you mean 'resnet18'?",
    ),
    (
        "model_of_other_task",
        job_text("training_parameters: {model_name: yolov5}\n"),
        "unknown value 'yolov5'",
    ),
    (
        "metric_of_other_task",
        job_text("primary_metric: mean_average_precision\n"),
        "for task 'image_classification'",
    ),
    (
        "unknown_enum_value",
        job_text("training_parameters: {optimizer: rmsprop}\n"),
        "(allowed: sgd, adam, adamw)",
    ),
    ("type_const", job_text().replace("type: automl", "type: command"), "must be 'automl'"),
    (
        "mltable_type",
        job_text("validation_data: {path: valid, type: uri_folder}\n"),
        "unknown value 'uri_folder'",
    ),
    (
        "tile_grid_format",
        job_text("training_parameters: {tile_grid_size: 3by2}\n", OD),
        "expected 'WxH'",
    ),
    ("job_name_format", job_text("name: my job\n"), "letters, digits"),
    ("empty_search_space", job_text(SWEEP + "search_space: []\n"), "needs at least 1 item"),
    ("empty_subspace", job_text(SWEEP + "search_space: [{}]\n"), "must set at least one key"),
    # --- schema: distributions ---------------------------------------------------------
    (
        "unknown_distribution",
        job_text(SWEEP + "search_space: [{learning_rate: {type: gaussian, mu: 0, sigma: 1}}]\n"),
        "unknown value 'gaussian'",
    ),
    (
        "distribution_missing_parameter",
        job_text(SWEEP + "search_space: [{learning_rate: {type: uniform, min_value: 0.1}}]\n"),
        "a uniform distribution needs min_value, max_value",
    ),
    (
        "distribution_unknown_parameter",
        job_text(
            SWEEP + "search_space: [{learning_rate: {type: uniform, min_value: 0.1, max: 1}}]\n"
        ),
        "unknown key for a uniform distribution; allowed keys: type, min_value, max_value",
    ),
    (
        "int_parameter_continuous",
        job_text(
            SWEEP + "search_space: [{number_of_epochs: {type: uniform, min_value: 1, "
            "max_value: 9}}]\n"
        ),
        "(allowed: choice, randint, quniform, qloguniform, qnormal, qlognormal)",
    ),
    (
        "int_parameter_float_q",
        job_text(
            SWEEP + "search_space: [{number_of_epochs: {type: quniform, min_value: 1, "
            "max_value: 9, q: 0.5}}]\n"
        ),
        "expected integer, got number 0.5",
    ),
    (
        "categorical_only_choice",
        job_text(
            SWEEP + "search_space: [{optimizer: {type: uniform, min_value: 0, max_value: 1}}]\n"
        ),
        "(allowed: choice)",
    ),
    (
        "choice_value_checked",
        job_text(SWEEP + "search_space: [{optimizer: {type: choice, values: [sgd, rmsprop]}}]\n"),
        "$.search_space[0].optimizer.values[1]: unknown value 'rmsprop'",
    ),
    (
        "choice_model_checked",
        job_text(
            SWEEP + "search_space: [{model_name: {type: choice, values: [resnet50, yolov5]}}]\n"
        ),
        "unknown value 'yolov5'",
    ),
    (
        "string_form_distribution",
        job_text(SWEEP + "search_space: [{learning_rate: 'uniform(0.001, 0.01)'}]\n"),
        "write distributions as {type: uniform",
    ),
    # --- schema: sweep -----------------------------------------------------------------
    (
        "unknown_sampling",
        job_text("sweep: {sampling_algorithm: randomized}\n"),
        "unknown value 'randomized'",
    ),
    (
        "sampling_seed_only_random",
        job_text("sweep: {sampling_algorithm: {type: grid, seed: 1}}\n"),
        "not allowed when type is 'grid'",
    ),
    (
        "policy_key_for_other_type",
        job_text(
            "sweep:\n  sampling_algorithm: random\n  early_termination: "
            "{type: median_stopping, slack_factor: 0.1}\n"
        ),
        "not allowed when type is 'median_stopping'",
    ),
    (
        "truncation_needs_percentage",
        job_text(
            "sweep:\n  sampling_algorithm: random\n  early_termination: "
            "{type: truncation_selection}\n"
        ),
        "$.sweep.early_termination.truncation_percentage: missing required key",
    ),
]

CHECK_ROWS = [
    ("sweep_without_search_space", job_text(SWEEP), "a sweep needs a search_space"),
    (
        "search_space_without_sweep",
        job_text(
            "search_space: [{learning_rate: {type: uniform, min_value: 0.01, max_value: 0.1}}]\n"
        ),
        "a search_space needs a sweep",
    ),
    (
        "grid_choice_only",
        job_text(
            "sweep: {sampling_algorithm: grid}\nsearch_space: [{learning_rate: "
            "{type: uniform, min_value: 0.01, max_value: 0.1}}]\n"
        ),
        "grid sampling needs choice distributions",
    ),
    (
        "bandit_both_slacks",
        job_text(
            "sweep:\n  sampling_algorithm: random\n  early_termination: "
            "{type: bandit, slack_factor: 0.1, slack_amount: 0.1}\n"
            "search_space: [{model_name: resnet18}]\n"
        ),
        "exactly one of slack_factor and slack_amount, got both",
    ),
    (
        "bandit_no_slack",
        job_text(
            "sweep:\n  sampling_algorithm: random\n  early_termination: {type: bandit}\n"
            "search_space: [{model_name: resnet18}]\n"
        ),
        "got neither",
    ),
    (
        "validation_data_and_size",
        job_text("validation_data: {path: valid}\nvalidation_data_size: 0.3\n"),
        "cannot be used with validation_data",
    ),
    (
        "fixed_and_searched",
        job_text(
            SWEEP + "training_parameters: {learning_rate: 0.01}\nsearch_space: [{learning_rate: "
            "{type: uniform, min_value: 0.01, max_value: 0.1}}]\n"
        ),
        "'learning_rate' is both fixed in training_parameters and searched",
    ),
    (
        "fixed_key_not_for_model",
        job_text("training_parameters: {model_name: yolov5, min_size: 600}\n", OD),
        "'min_size' does not apply to model yolov5 (yolo family)",
    ),
    (
        "default_model_refuses_key",
        job_text("training_parameters: {image_size: 320}\n", OD),
        "'image_size' does not apply to model fasterrcnn_resnet50_fpn",
    ),
    (
        "subspace_key_not_for_model",
        job_text(
            SWEEP + "search_space:\n  - model_name: {type: choice, values: "
            "[fasterrcnn_resnet50_fpn]}\n    model_size: {type: choice, values: [small]}\n",
            OD,
        ),
        "$.search_space[0].model_size: 'model_size' does not apply to model fasterrcnn",
    ),
    (
        "min_above_max",
        job_text(
            SWEEP + "search_space: [{learning_rate: {type: uniform, min_value: 0.1, "
            "max_value: 0.01}}]\n"
        ),
        "min_value 0.1 is above max_value 0.01",
    ),
    (
        "min_equals_max",
        job_text(
            SWEEP + "search_space: [{momentum: {type: uniform, min_value: 0.5, max_value: 0.5}}]\n"
        ),
        "min_value equals max_value (0.5)",
    ),
    (
        "uniform_below_the_minimum",
        job_text(
            SWEEP + "search_space: [{learning_rate: {type: uniform, min_value: -0.01, "
            "max_value: 0.1}}]\n"
        ),
        "uniform draws values in [-0.01, 0.1], but learning_rate must be greater than 0; "
        "a trial drawing a value outside would fail: set min_value above 0",
    ),
    (
        "loguniform_bounds_are_exponents",
        job_text(
            SWEEP + "search_space: [{learning_rate: {type: loguniform, min_value: -5, "
            "max_value: 1}}]\n"
        ),
        "but learning_rate must be at most 1; a trial drawing a value outside would fail: "
        "max_value is an exponent of e: for 1 write max_value: 0",
    ),
    (
        "randint_from_zero",
        job_text(SWEEP + "search_space: [{number_of_epochs: {type: randint, upper: 10}}]\n"),
        "randint draws values in [0, 9], but number_of_epochs must be at least 1",
    ),
    (
        "randint_outside_the_enum",
        job_text(SWEEP + "search_space: [{weighted_loss: {type: randint, upper: 4}}]\n"),
        "weighted_loss must be one of 0, 1, 2",
    ),
    (
        "quniform_above_the_maximum",
        job_text(
            SWEEP + "search_space: [{momentum: {type: quniform, min_value: 0.5, "
            "max_value: 1.2, q: 0.1}}]\n"
        ),
        "quniform draws values in [0.5, 1.2], but momentum must be at most 1",
    ),
    (
        "qloguniform_rounds_to_zero",
        job_text(
            SWEEP + "search_space: [{learning_rate: {type: qloguniform, min_value: -8, "
            "max_value: -2, q: 0.01}}]\n"
        ),
        "small draws round to 0",
    ),
    (
        "normal_crosses_a_bound",
        job_text(
            SWEEP + "search_space: [{learning_rate: {type: normal, mu: 0.01, sigma: 0.01}}]\n"
        ),
        "Azure's normal distributions have no bounds; the sweep draws within about mu +- 4.75 "
        "sigma: narrow sigma or move mu",
    ),
    (
        "logbase_changes_the_range",
        job_text(
            "limits: {max_trials: 4}\nsweep: {sampling_algorithm: {type: random, logbase: 10}}\n"
            "search_space: [{learning_rate: {type: loguniform, min_value: -4, max_value: 1}}]\n"
        ),
        "loguniform draws values in [0.0001, 10]",
    ),
    (
        "tile_grid_one_by_one",
        job_text("training_parameters: {tile_grid_size: 1x1}\n", OD),
        "'1x1' is one tile",
    ),
    (
        "vit_crop_sizes",
        job_text("training_parameters: {model_name: vitb16r224, training_crop_size: 192}\n"),
        "vitb16r224 needs validation_crop_size equal to training_crop_size",
    ),
    (
        "layers_to_freeze_range",
        job_text("training_parameters: {model_name: resnet18, layers_to_freeze: 6}\n"),
        "resnet18 has 5 layer groups",
    ),
    (
        "advanced_settings_not_json",
        job_text("training_parameters:\n  advanced_settings: '{stream_image_files: true}'\n"),
        "not valid JSON",
    ),
    (
        "advanced_settings_not_object",
        job_text("training_parameters:\n  advanced_settings: '[1, 2]'\n"),
        "must be a JSON object",
    ),
    (
        "advanced_settings_unknown_key",
        job_text("training_parameters:\n  advanced_settings: '{\"stream_images\": true}'\n"),
        "did you mean 'stream_image_files'?",
    ),
    (
        "advanced_settings_wrong_type",
        job_text("training_parameters:\n  advanced_settings: '{\"stream_image_files\": 1}'\n"),
        "stream_image_files: expected boolean",
    ),
    (
        "remote_azureml_asset",
        job_text().replace("path: train", "path: azureml:fridge:1"),
        "is a cloud location",
    ),
    (
        "remote_azureml_uri",
        job_text().replace("path: train", "path: azureml://datastores/x/paths/y"),
        "local MLTable folder or JSONL file",
    ),
    (
        "remote_https",
        job_text().replace("path: train", "path: https://example.org/d"),
        "is a cloud location",
    ),
    (
        "remote_wasbs",
        job_text().replace("path: train", "path: wasbs://c@a.blob.core/x"),
        "is a cloud location",
    ),
    (
        "missing_local_path",
        job_text().replace("path: train", "path: nowhere"),
        "'nowhere' does not exist (resolved to",
    ),
    ("not_finite", job_text("training_parameters: {weight_decay: .nan}\n"), "not a finite number"),
]
ERROR_ROWS = SCHEMA_ROWS + CHECK_ROWS


@pytest.mark.parametrize(
    ("text", "fragment"), [r[1:] for r in ERROR_ROWS], ids=[r[0] for r in ERROR_ROWS]
)
def test_rule_reports_error(write_job, text, fragment):
    path = write_job(text)
    with pytest.raises(ConfigError) as caught:
        load_job(path)
    assert any(fragment in issue for issue in caught.value.issues), caught.value.issues
    assert fragment in str(caught.value)


WARNING_ROWS = [
    (
        "bayesian_distributions",
        job_text(
            "sweep: {sampling_algorithm: bayesian}\nsearch_space: [{learning_rate: "
            "{type: loguniform, min_value: -5, max_value: -2}}]\n"
        ),
        "Azure's bayesian sampling takes only choice, uniform and quniform",
    ),
    (
        "bayesian_one_subspace",
        job_text(
            "sweep: {sampling_algorithm: bayesian}\nsearch_space: [{model_name: resnet18}, "
            "{model_name: resnet50}]\n"
        ),
        "Azure's bayesian sampling takes one sub-space",
    ),
    (
        "bayesian_no_early_termination",
        job_text(
            "sweep:\n  sampling_algorithm: bayesian\n  early_termination: "
            "{type: median_stopping}\nsearch_space: [{model_name: resnet18}]\n"
        ),
        "Azure's bayesian sampling takes no early termination",
    ),
    ("azure_compute", job_text("compute: azureml:gpu-cluster\n"), "runs on this machine"),
    (
        "hub_id_not_curated",
        job_text("training_parameters: {model_name: someorg/some-model}\n"),
        "not one of the curated Transformers ids",
    ),
    (
        "concurrency_capped",
        job_text("limits: {max_trials: 2, max_concurrent_trials: 4}\n"),
        "capped at 2",
    ),
    ("cloud_keys", job_text("resources: {instance_count: 1}\n"), "accepted and ignored"),
    ("environment_id", job_text("environment_id: azureml:env:1\n"), "accepted and ignored"),
    ("test_data", job_text("test_data: {path: valid}\n"), "ignored"),
    ("test_data_size", job_text("test_data_size: 0.1\n"), "ignored"),
    (
        "best_model_cloud_path",
        job_text("outputs: {best_model: {type: mlflow_model, path: azureml://jobs/x}}\n"),
        "written to the run directory",
    ),
    (
        "multi_node",
        job_text("properties: {node_count_per_trial: '2'}\n"),
        "the job waits for 1 worker(s) started with 'automl job worker",
    ),
    (
        "v1_model_size",
        job_text("training_parameters: {model_name: yolov5, model_size: xlarge}\n", OD),
        "'xlarge' is the v1 spelling",
    ),
    ("augmentations", job_text(SWEEP + "search_space: [{augmentations: flip}]\n"), "has no effect"),
    (
        "trial_timeout",
        job_text("limits: {timeout_minutes: 10, trial_timeout_minutes: 20}\n"),
        "the job limit stops trials first",
    ),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [r[1:] for r in WARNING_ROWS], ids=[r[0] for r in WARNING_ROWS]
)
def test_rule_reports_warning(write_job, text, fragment):
    job = load_job(write_job(text))
    assert any(fragment in line for line in job.warnings), job.warnings


def test_all_errors_are_collected(write_job):
    text = job_text("limits: {max_trail: 3}\ntraining_parameters: {number_of_epochs: 0, lr: 1}\n")
    with pytest.raises(ConfigError) as caught:
        load_job(write_job(text))
    assert len(caught.value.issues) == 3
    lines = [issue.split(":")[1] for issue in caught.value.issues]
    assert lines == sorted(lines, key=int)  # reported in file order


def test_concurrency_cap_is_applied(write_job):
    job = load_job(write_job(job_text("limits: {max_trials: 2, max_concurrent_trials: 4}\n")))
    assert job.resolved["limits"]["max_concurrent_trials"] == 2
    assert job.raw["limits"]["max_concurrent_trials"] == 4  # raw keeps what the user wrote


def test_missing_path_check_can_be_skipped(write_job):
    path = write_job(job_text().replace("path: train", "path: nowhere"))
    job = load_job(path, check_paths=False)
    assert job.resolved["training_data"]["path"].endswith("nowhere")


def _outcome(path) -> tuple[str, ...]:
    try:
        return tuple(load_job(path).warnings)
    except ConfigError as exc:
        return tuple(exc.issues)
    except Exception as exc:  # without its check, a later stage may crash: also a change
        return (type(exc).__name__,)


@pytest.mark.slow
def test_every_check_has_a_row_that_needs_it(write_job, monkeypatch):
    """Dropping any cross-field check changes the outcome of at least one table row."""
    from automl.engine.config import checks

    paths = [write_job(text, name=f"{name}.yml") for name, text, _ in CHECK_ROWS + WARNING_ROWS]
    baseline = [_outcome(p) for p in paths]
    all_checks = list(checks.CHECKS)
    for check in all_checks:
        monkeypatch.setattr(checks, "CHECKS", [c for c in all_checks if c is not check])
        # any() stops at the first row that changes: one is enough
        changed = any(_outcome(p) != before for p, before in zip(paths, baseline, strict=True))
        assert changed, f"no table row fails when {check.__name__} is removed"
