"""Stage 7: the whole path, load -> overrides -> normalise -> validate -> checks -> defaults.

`load_job` returns a `Job`; `resolve_trial_parameters` turns one trial's parameters (user
training_parameters merged with sampled values) into its complete hyperparameter set.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from automl import schemas
from automl.engine.config.checks import (
    CheckContext,
    check_advanced_settings,
    check_data_paths_exist,
    resolve_data_path,
    run_checks,
)
from automl.engine.config.defaults import fill_job_defaults, parse_advanced_settings
from automl.engine.config.issues import (
    Issue,
    Locator,
    format_path,
    format_warnings,
    raise_for_errors,
)
from automl.engine.config.load import Document, load_document
from automl.engine.config.normalize import normalize_job
from automl.engine.config.overrides import apply_overrides
from automl.engine.config.pipeline import job_source
from automl.engine.config.validate import validate_against, validate_job_schema
from automl.engine.errors import ConfigError

logger = logging.getLogger("automl.config")

Mode = Literal["single", "automode", "sweep"]


@dataclass
class Job:
    """A validated job file with every default filled.

    `raw` is the plain data as given (after `--set`), `resolved` every key with its
    effective value (data paths absolute), `user_training_parameters` the
    training_parameters as the user gave them: the sweep merges sampled values into these
    and calls `resolve_trial_parameters`, so per-model defaults still apply.
    """

    path: Path
    text: str
    raw: dict
    resolved: dict
    user_training_parameters: dict
    warnings: list[str]
    task: str
    primary_metric: str
    mode: Mode
    name: str | None
    overrides: list[str] = field(default_factory=list)
    per_trial_keys: list[str] = field(default_factory=list)


def load_job(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    check_paths: bool = True,
    base_dir: str | Path | None = None,
) -> Job:
    """Load, validate and resolve a job file; raise `ConfigError` listing every problem.

    A pipeline file (`type: pipeline`) is the single automl node it holds (see `pipeline`).
    `check_paths=False` skips the first check of the data stage, that local data paths exist
    (`job validate --skip-data`, `job render`, and jobs whose data is elsewhere). `base_dir`
    resolves relative data paths against another folder than the file's own: a run
    directory's copy of `job.yml` is resolved against the folder the job was created from.
    """
    document = load_document(path)
    job_dir = Path(base_dir).resolve() if base_dir else document.path.resolve().parent
    raw, data, issues, locator = _checked_data(document, overrides, job_dir)
    if check_paths:
        raise_for_errors(check_data_paths_exist(CheckContext(data, job_dir)), locator)
    resolved, per_trial = fill_job_defaults(data, data["task"])
    _make_paths_absolute(resolved, job_dir)
    return Job(
        path=document.path,
        text=document.text,
        raw=raw,
        resolved=resolved,
        user_training_parameters=copy.deepcopy(data.get("training_parameters") or {}),
        warnings=format_warnings(issues, locator),
        task=data["task"],
        primary_metric=resolved["primary_metric"],
        mode=job_mode(data),
        name=data.get("name"),
        overrides=list(overrides),
        per_trial_keys=per_trial,
    )


def _checked_data(
    document: Document, overrides: Sequence[str], job_dir: Path
) -> tuple[dict, dict, list[Issue], Locator]:
    """(raw data, normalised valid data, notices, locator): stages 2-5 on the job's part of
    the file; raises `ConfigError` listing every problem."""
    found = job_source(document.source, document.label)
    raw = copy.deepcopy(found.data)
    applied, issues = apply_overrides(raw, overrides)
    locator = Locator(document.label, found.source, applied, found.prefix)
    data = copy.deepcopy(raw)
    issues += found.issues + normalize_job(data)
    issues += validate_job_schema(data)
    raise_for_errors(issues, locator)
    issues += run_checks(CheckContext(data, job_dir))
    raise_for_errors(issues, locator)
    return raw, data, issues, locator


def job_mode(data: dict) -> Mode:
    """single (one trial), automode (max_trials > 1, no search) or sweep (search_space)."""
    if data.get("sweep") is not None and data.get("search_space"):
        return "sweep"
    if (data.get("limits") or {}).get("max_trials", 1) > 1:
        return "automode"
    return "single"


def _make_paths_absolute(resolved: dict, job_dir: Path) -> None:
    for key in ("training_data", "validation_data", "test_data"):
        if isinstance(resolved.get(key), dict) and "path" in resolved[key]:
            resolved[key]["path"] = str(resolve_data_path(resolved[key]["path"], job_dir))


def resolve_trial_parameters(task: str, params: dict) -> dict:
    """The complete hyperparameters of one trial.

    `params` are the user's training_parameters merged with this trial's sampled values;
    missing keys take the per-model defaults (vitb16r224: batch 48), then the task defaults.
    `advanced_settings` becomes a dict with its defaults filled. Raises `ConfigError` if a
    value is invalid (for example a sampled value outside the hyperparameter's range).
    """
    model = params.get("model_name") or schemas.default_model(task)
    excluded = set(schemas.excluded_keys(model))
    result = {k: v for k, v in schemas.task_defaults(task).items() if k not in excluded}
    result.update(schemas.model_defaults(task, model))
    result.update(_coerce_integers(copy.deepcopy(params)))
    result["model_name"] = model
    if isinstance(result.get("advanced_settings"), dict):
        result["advanced_settings"] = json.dumps(result["advanced_settings"])
    _raise_if_invalid(task, result)
    result["advanced_settings"] = parse_advanced_settings(result.get("advanced_settings"))
    return dict(sorted(result.items()))


def _coerce_integers(params: dict) -> dict:
    """Integral floats (a quniform sample, 8.0) become ints for integer hyperparameters."""
    for key, value in params.items():
        if isinstance(value, float) and value.is_integer() and _is_integer_parameter(key):
            params[key] = int(value)
    return params


def _is_integer_parameter(name: str) -> bool:
    try:
        kind = schemas.hyperparameter_schema(name).get("type")
    except KeyError:
        return False
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind)


def _trial_schema(task: str) -> dict:
    schema = schemas.load_schema(task)
    parameters = copy.deepcopy(schema["$defs"]["training_parameters"][task])
    for name in schemas.searchable_names(task):  # search-only keys (augmentations)
        parameters["properties"].setdefault(name, {"$ref": f"#/$defs/search_only/{name}"})
    return parameters


def _raise_if_invalid(task: str, params: dict) -> None:
    # Validated as the training_parameters of a job, so messages name the task as usual.
    wrapper = {"type": "object", "properties": {"training_parameters": _trial_schema(task)}}
    data = {"task": task, "training_parameters": params}
    issues: list[Issue] = validate_against(data, wrapper)
    issues += list(check_advanced_settings(CheckContext(data, Path("."))))
    if issues:
        lines = [f"{format_path(issue.path[1:])}: {issue.message}" for issue in issues]
        raise ConfigError(
            f"invalid trial parameters for {task} ({len(lines)} problem(s)):\n  "
            + "\n  ".join(lines),
            issues=lines,
        )
