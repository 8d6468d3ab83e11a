"""Stage 5: cross-field rules the JSON Schema cannot say, one small named function each.

Every check takes a `CheckContext` (the normalised, schema-valid job) and yields `Issue`s:
errors make the job invalid, warnings are notices the user sees. `CHECKS` lists them in the
order they run; a rule is added by writing a function and listing it. Rules of the search
space live in `checks_search`, rules of data paths in `checks_data`; the data stage's first
check (`check_data_paths_exist`) is not in `CHECKS`: `load_job` runs it unless told not to.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from automl import schemas
from automl.engine.config.checks_data import (
    DATA_KEYS,
    REMOTE_PREFIXES,
    check_data_paths_exist,
    check_data_paths_local,
    resolve_data_path,
)
from automl.engine.config.checks_hub import check_hub_models
from automl.engine.config.checks_search import (
    check_bayesian_beyond_azure,
    check_distribution_bounds,
    check_distribution_support,
    check_fixed_not_searched,
    check_grid_uses_choice_only,
)
from automl.engine.config.context import (
    Check,
    CheckContext,
    is_distribution,
    subspace_models,
)
from automl.engine.config.issues import Issue, warning
from automl.engine.config.validate import validate_against
from automl.engine.utils.quoting import quote

__all__ = [
    "CHECKS",
    "DATA_KEYS",
    "Check",
    "CheckContext",
    "check_data_paths_exist",
    "resolve_data_path",
    "run_checks",
]

CLOUD_KEYS = (
    "resources",
    "environment_id",
    "environment_variables",
    "queue_settings",
    "identity",
    "services",
)


def check_sweep_has_search_space(ctx: CheckContext) -> Iterator[Issue]:
    if ctx.sweep is not None and not ctx.search_space:
        yield Issue(
            ("sweep",),
            "a sweep needs a search_space; add search_space: (a list of "
            "sub-spaces), or remove sweep: and set limits.max_trials > 1 for AutoMode",
        )


def check_search_space_has_sweep(ctx: CheckContext) -> Iterator[Issue]:
    if ctx.search_space and ctx.sweep is None:
        yield Issue(
            ("search_space",),
            "a search_space needs a sweep; add sweep: "
            "{sampling_algorithm: random} (or grid, bayesian)",
        )


def check_bandit_slack(ctx: CheckContext) -> Iterator[Issue]:
    policy = (ctx.sweep or {}).get("early_termination") or {}
    if policy.get("type") != "bandit":
        return
    given = [k for k in ("slack_factor", "slack_amount") if k in policy]
    if len(given) != 1:
        found = "both" if given else "neither"
        yield Issue(
            ("sweep", "early_termination"),
            f"bandit needs exactly one of slack_factor "
            f"and slack_amount, got {found}; for example slack_factor: 0.2",
        )


def check_concurrent_trials_capped(ctx: CheckContext) -> Iterator[Issue]:
    n_trials = ctx.limits.get("max_trials", 1)
    n_concurrent = ctx.limits.get("max_concurrent_trials", 1)
    if n_concurrent > n_trials:
        yield warning(
            ("limits", "max_concurrent_trials"),
            f"max_concurrent_trials "
            f"{n_concurrent} is above max_trials {n_trials}; capped at {n_trials}",
        )


def check_validation_data_or_size(ctx: CheckContext) -> Iterator[Issue]:
    if "validation_data" in ctx.data and "validation_data_size" in ctx.data:
        yield Issue(
            ("validation_data_size",),
            "validation_data_size splits training_data and "
            "cannot be used with validation_data; remove one of them",
        )


def check_parameters_apply_to_model(ctx: CheckContext) -> Iterator[Issue]:
    fixed_model = ctx.training_parameters.get("model_name")
    if fixed_model is None and not ctx.search_space and ctx.limits.get("max_trials", 1) == 1:
        fixed_model = schemas.default_model(ctx.task)
    if fixed_model is not None:
        yield from _keys_apply(ctx.training_parameters, [fixed_model], ("training_parameters",))
    for index, sub in enumerate(ctx.search_space):
        yield from _keys_apply(sub, subspace_models(ctx, sub), ("search_space", index))


def _keys_apply(params: dict, models: list[str], where: tuple) -> Iterator[Issue]:
    fix = "remove it or choose a model that takes it"
    if where[0] == "search_space":
        fix = "remove it, or move it to a sub-space whose model_name takes it"
    for key in params:
        refusing = [m for m in models if key in schemas.excluded_keys(m)]
        if refusing:
            family = schemas.model_family(refusing[0])["name"]
            yield Issue(
                where + (key,),
                f"{quote(key)} does not apply to model {', '.join(refusing)} "
                f"({family} family); {fix}",
            )


def check_tile_grid_size(ctx: CheckContext) -> Iterator[Issue]:
    for where, value in _parameter_values(ctx, "tile_grid_size"):
        if isinstance(value, str) and value.lower() == "1x1":
            yield Issue(
                where,
                "'1x1' is one tile, which is no tiling; use for example '3x2', "
                "or remove tile_grid_size",
            )


def _parameter_values(ctx: CheckContext, key: str) -> Iterator[tuple[tuple, Any]]:
    """Every literal value `key` can take: fixed, literal in a sub-space, or a choice."""
    if key in ctx.training_parameters:
        yield ("training_parameters", key), ctx.training_parameters[key]
    for index, sub in enumerate(ctx.search_space):
        value = sub.get(key)
        if is_distribution(value) and value.get("type") == "choice":
            for position, item in enumerate(value.get("values", [])):
                yield ("search_space", index, key, "values", position), item
        elif key in sub:
            yield ("search_space", index, key), value


def check_vit_crop_sizes(ctx: CheckContext) -> Iterator[Issue]:
    for where, params, models in _fixed_settings(ctx):
        vit = [m for m in models if (schemas.model_family(m) or {}).get("crop_sizes_must_match")]
        if not vit:
            continue
        train, valid = (
            params.get(key, schemas.task_default(ctx.task, key))
            for key in ("training_crop_size", "validation_crop_size")
        )
        if not is_distribution(train) and not is_distribution(valid) and train != valid:
            yield Issue(
                where,
                f"{vit[0]} needs validation_crop_size equal to training_crop_size "
                f"(got {valid} and {train}); set both to the same size",
            )


def _fixed_settings(ctx: CheckContext) -> Iterator[tuple[tuple, dict, list[str]]]:
    """(path, literal settings, models) of the fixed job and of each sub-space."""
    if not ctx.search_space:
        model = ctx.training_parameters.get("model_name")
        if model is None and ctx.limits.get("max_trials", 1) == 1:
            model = schemas.default_model(ctx.task)
        if model is not None:
            yield ("training_parameters",), ctx.training_parameters, [model]
    for index, sub in enumerate(ctx.search_space):
        yield ("search_space", index), {**ctx.training_parameters, **sub}, subspace_models(ctx, sub)


def check_layers_to_freeze(ctx: CheckContext) -> Iterator[Issue]:
    for where, params, models in _fixed_settings(ctx):
        value = params.get("layers_to_freeze")
        if not isinstance(value, int):
            continue
        for model in models:
            groups = (schemas.model_family(model) or {}).get("layer_groups")
            if groups is not None and value > groups:
                yield Issue(
                    where + ("layers_to_freeze",),
                    f"{model} has {groups} layer groups; "
                    f"layers_to_freeze {value} is more than that (use 0 to {groups})",
                )


def check_advanced_settings(ctx: CheckContext) -> Iterator[Issue]:
    text = ctx.training_parameters.get("advanced_settings")
    if text is None:
        return
    where = ("training_parameters", "advanced_settings")
    settings, problem = _json_object(text)
    if problem is not None:
        yield Issue(where, problem)
        return
    for issue in validate_against(settings, schemas.advanced_settings_schema()):
        inner = ".".join(str(p) for p in issue.path)
        yield Issue(where, f"{inner}: {issue.message}" if inner else issue.message)


def _json_object(text: str) -> tuple[dict | None, str | None]:
    """(the JSON object in `text`, None) or (None, what is wrong with it)."""
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, (
            f"not valid JSON ({exc.msg} at character {exc.pos + 1}); write a "
            "JSON object such as '{\"stream_image_files\": true}'"
        )
    except RecursionError:  # the JSON decoder recurses per level
        return None, "JSON nested too deeply to read; write a flat JSON object"
    if not isinstance(settings, dict):
        return None, (
            f"must be a JSON object, got {type(settings).__name__}; for example "
            "'{\"apply_mosaic_for_yolo\": false}'"
        )
    return settings, None


def check_compute_local(ctx: CheckContext) -> Iterator[Issue]:
    compute = ctx.data.get("compute")
    if compute is not None and compute != "local":
        yield warning(
            ("compute",),
            f"{quote(compute)} is an Azure compute target; the job runs on "
            "this machine (its GPUs, or the CPU)",
        )


def check_cloud_keys_ignored(ctx: CheckContext) -> Iterator[Issue]:
    for key in CLOUD_KEYS:
        if key in ctx.data:
            yield warning((key,), f"{key} is an Azure cloud setting; accepted and ignored here")


def check_test_data_ignored(ctx: CheckContext) -> Iterator[Issue]:
    for key in ("test_data", "test_data_size"):
        if key in ctx.data:
            yield warning(
                (key,),
                f"{key} is accepted for Azure compatibility and ignored; "
                "evaluate on a test set with `automl model predict` instead",
            )


def check_best_model_path(ctx: CheckContext) -> Iterator[Issue]:
    best = (ctx.data.get("outputs") or {}).get("best_model") or {}
    path = best.get("path")
    if isinstance(path, str) and path.lower().startswith(REMOTE_PREFIXES):
        yield warning(
            ("outputs", "best_model", "path"),
            f"{quote(path)} is a cloud location; the "
            "best model is written to the run directory's best_model/ instead",
        )


def check_node_count(ctx: CheckContext) -> Iterator[Issue]:
    count = (ctx.data.get("properties") or {}).get("node_count_per_trial")
    if count is None or str(count).strip() in ("1", ""):
        return
    path = ("properties", "node_count_per_trial")
    text = str(count).strip()
    if not text.isdigit() or int(text) < 1:
        message = "is not a count of machines; write a whole number like '2'"
        yield Issue(path, f"{quote(count)} {message}")
        return
    # One machine cannot form a group alone: the job waits for workers to join it.
    yield warning(
        path,
        f"node_count_per_trial {text} runs each trial over {text} machines: the job waits "
        f"for {int(text) - 1} worker(s) started with 'automl job worker NAME --storage URL' "
        "(a PostgreSQL URL, or the job's study.journal on a disk every machine shares)",
    )


def check_augmentations_recorded(ctx: CheckContext) -> Iterator[Issue]:
    for index, sub in enumerate(ctx.search_space):
        if "augmentations" in sub:
            yield warning(
                ("search_space", index, "augmentations"),
                "augmentations is recorded "
                "with each trial but has no effect (Azure does not document it)",
            )


def check_trial_timeout(ctx: CheckContext) -> Iterator[Issue]:
    trial, job = ctx.limits.get("trial_timeout_minutes"), ctx.limits.get("timeout_minutes")
    if trial is not None and job is not None and trial > job:
        yield warning(
            ("limits", "trial_timeout_minutes"),
            f"trial_timeout_minutes {trial} is "
            f"above the job's timeout_minutes {job}; the job limit stops trials first",
        )


def check_finite_numbers(ctx: CheckContext) -> Iterator[Issue]:
    for where, value in _walk(ctx.data, ()):
        if isinstance(value, float) and not math.isfinite(value):
            yield Issue(where, f"{quote(value)} is not a finite number")


def _walk(node: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, path + (index,))
    else:
        yield path, node


CHECKS: list[Check] = [
    check_finite_numbers,
    check_sweep_has_search_space,
    check_search_space_has_sweep,
    check_grid_uses_choice_only,
    check_bayesian_beyond_azure,
    check_bandit_slack,
    check_concurrent_trials_capped,
    check_validation_data_or_size,
    check_fixed_not_searched,
    check_parameters_apply_to_model,
    check_hub_models,
    check_distribution_bounds,
    check_distribution_support,
    check_tile_grid_size,
    check_vit_crop_sizes,
    check_layers_to_freeze,
    check_advanced_settings,
    check_data_paths_local,
    check_compute_local,
    check_cloud_keys_ignored,
    check_test_data_ignored,
    check_best_model_path,
    check_node_count,
    check_augmentations_recorded,
    check_trial_timeout,
]


def run_checks(ctx: CheckContext, checks: list[Check] | None = None) -> list[Issue]:
    """Run every check (or `checks`) and collect their issues."""
    issues: list[Issue] = []
    for check in CHECKS if checks is None else checks:
        issues.extend(check(ctx))
    return issues
