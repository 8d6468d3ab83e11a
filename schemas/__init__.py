"""JSON Schemas of job files: the only place defaults and allowed values live.

The files, shipped as package data:

- `job.schema.json`: JSON Schema 2020-12 of a job file for all four tasks (types, ranges,
  enums, task defaults, descriptions). Editors use it through the
  `# yaml-language-server: $schema=` line of the example jobs.
- `limits.json`: the bounds on every input (file sizes, pixels, counts, depths), each with
  its default and the environment variable (or flag) that changes it.
- `models.json`: the models of each task, the default model, per-model defaults
  (vitb16r224 batch 48, yolov5 epochs 30, ...) and model families (which keys a family
  does not take, how many layer groups `layers_to_freeze` may freeze).
- `weights.json`: where each model's pretrained weights are cached (file names, hub repos),
  so checking them needs no torch.
- `package_settings.schema.json`: the inference-only keys of a model package's
  settings.json, with the defaults predictions use.

Everything else (the config engine, the model registry tests, the sweep) reads them through
the accessors below, so a default or a model name is written exactly once.
"""

from __future__ import annotations

import copy
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent
JOB_SCHEMA_PATH = SCHEMA_DIR / "job.schema.json"
MODELS_PATH = SCHEMA_DIR / "models.json"
LIMITS_PATH = SCHEMA_DIR / "limits.json"
WEIGHTS_PATH = SCHEMA_DIR / "weights.json"
PACKAGE_SETTINGS_PATH = SCHEMA_DIR / "package_settings.schema.json"
HUB_WEIGHTS = "model.safetensors"  # the one weights file fetched for a hub id (no pickles)


@lru_cache(maxsize=1)
def _job_schema() -> dict:
    return json.loads(JOB_SCHEMA_PATH.read_text(encoding="utf-8"))


# The job file's `task` values (Azure's), in the schema's order.
TASKS: tuple[str, ...] = tuple(_job_schema()["properties"]["task"]["enum"])


@lru_cache(maxsize=1)
def _models() -> dict:
    return json.loads(MODELS_PATH.read_text(encoding="utf-8"))


def _check_task(task: str) -> str:
    if task not in TASKS:
        import difflib

        from automl.engine.errors import ConfigError

        close = difflib.get_close_matches(str(task), TASKS, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown task {task!r}{hint} (tasks: {', '.join(TASKS)})")
    return task


def load_schema(task: str | None = None) -> dict:
    """The job JSON Schema: for all tasks (None), or specialised to one task.

    The task form has no `if`/`then` branches: `task` is a const and `training_parameters`,
    `search_space` and `primary_metric` are the task's own, which is what editors and the
    defaults pass need. Returns a fresh copy the caller may change.
    """
    schema = copy.deepcopy(_job_schema())
    if task is None:
        return schema
    _check_task(task)
    props = schema["properties"]
    props["task"] = {"type": "string", "const": task}
    props["primary_metric"] = {**props["primary_metric"], "enum": primary_metrics(task)}
    props["primary_metric"]["default"] = default_primary_metric(task)
    props["training_parameters"] = {"$ref": f"#/$defs/training_parameters/{task}"}
    props["search_space"] = {"$ref": f"#/$defs/search_space/{task}"}
    schema.pop("allOf", None)
    schema["title"] = f"{schema['title']}: {task}"
    return schema


def model_names(task: str) -> list[str]:
    """Model names of `task`, in the reference's order (the model registry must equal it)."""
    return list(_models()["tasks"][_check_task(task)]["models"])


def default_model(task: str) -> str:
    """The model a trial uses when neither training_parameters nor the search sets one."""
    return _models()["tasks"][_check_task(task)]["default_model"]


def primary_metrics(task: str) -> list[str]:
    """Primary metrics allowed for `task`; the first is the default."""
    branch = _task_branch(task)
    return list(branch["then"]["properties"]["primary_metric"]["enum"])


def default_primary_metric(task: str) -> str:
    """accuracy, iou or mean_average_precision."""
    return primary_metrics(task)[0]


def _task_branch(task: str) -> dict:
    _check_task(task)
    for branch in _job_schema()["allOf"]:
        if branch["if"]["properties"]["task"]["const"] == task:
            return branch
    raise KeyError(task)  # job.schema.json lacks a branch: a packaging bug, not user input


def hyperparameter_schema(name: str) -> dict:
    """The schema (type, range, enum, description) of one hyperparameter, task-free."""
    defs = _job_schema()["$defs"]
    if name in defs["hyperparameters"]:
        return copy.deepcopy(defs["hyperparameters"][name])
    return copy.deepcopy(defs["search_only"][name])


def training_parameter_names(task: str) -> list[str]:
    """Keys allowed in `training_parameters` for `task`."""
    return list(_training_parameters_schema(task)["properties"])


def searchable_names(task: str) -> list[str]:
    """Keys allowed in a `search_space` sub-space for `task`."""
    return list(_job_schema()["$defs"]["search_space"][_check_task(task)]["items"]["properties"])


def _training_parameters_schema(task: str) -> dict:
    return _job_schema()["$defs"]["training_parameters"][_check_task(task)]


def task_defaults(task: str) -> dict[str, Any]:
    """Every training parameter of `task` with its task-level default (model_name included)."""
    props = _training_parameters_schema(task)["properties"]
    return {name: copy.deepcopy(spec["default"]) for name, spec in props.items()}


def task_default(task: str, name: str) -> Any:
    """The task-level default of one training parameter (e.g. tile_overlap_ratio: 0.25)."""
    return copy.deepcopy(_training_parameters_schema(task)["properties"][name]["default"])


def model_defaults(task: str, model: str) -> dict[str, Any]:
    """Defaults that differ for `model` (e.g. vitb16r224: batch 48); {} when none. Models
    of the Transformers family take `hub_defaults` first (the per-model ones win)."""
    table = _models()["model_defaults"].get(_check_task(task), {})
    family = model_family(model)
    base = _models()["hub_defaults"].get(task, {}) if family and family.get("hub_ids") else {}
    return copy.deepcopy({**base, **table.get(model, {})})


def model_family(model: str) -> dict | None:
    """The family entry of `model` in models.json (excluded_keys, layer_groups), or None;
    a Transformers hub id (`org/name`) belongs to the family that takes hub ids."""
    for name, family in _models()["families"].items():
        if model in family["models"]:
            return {"name": name, **family}
    if is_hub_id(model):
        for name, family in _models()["families"].items():
            if family.get("hub_ids"):
                return {"name": name, **family}
    return None


def hub_id_pattern() -> str:
    """The rule of a Transformers hub id (`org/name`): `$defs/hub_model_id` of the schema."""
    return _job_schema()["$defs"]["hub_model_id"]["pattern"]


def is_hub_id(model: object) -> bool:
    """Whether `model` is written as a Transformers hub id (`org/name`)."""
    return isinstance(model, str) and re.fullmatch(hub_id_pattern(), model) is not None


def curated_hub_ids(task: str) -> list[str]:
    """The hub ids of `task`'s model list (Azure's curated ones)."""
    return [name for name in model_names(task) if is_hub_id(name)]


def family_distributed(model: str) -> bool:
    """Whether `model`'s trials may train on several GPUs with our DDP: a family's
    `distributed` key in models.json (false for Ultralytics' one-GPU loop); true when
    absent or for a model of no family."""
    family = model_family(model)
    return bool(family.get("distributed", True)) if family else True


def excluded_keys(model: str) -> list[str]:
    """Training parameters the model's family does not take (yolov5: min_size, ...)."""
    family = model_family(model)
    return list(family["excluded_keys"]) if family else []


def applicable_parameter_names(task: str, model: str) -> list[str]:
    """Training parameters of `task` that apply to `model`."""
    excluded = set(excluded_keys(model))
    return [name for name in training_parameter_names(task) if name not in excluded]


def task_of_parameter(name: str) -> list[str]:
    """Tasks whose training_parameters or search_space accept `name` (for error messages)."""
    return [t for t in TASKS if name in training_parameter_names(t) or name in searchable_names(t)]


def runtime_names(task: str) -> dict[str, str]:
    """v2 name -> Azure runtime name where they differ (e.g. box_score_threshold ->
    box_score_thresh), for files that use runtime names such as settings.json."""
    hps = _job_schema()["$defs"]["hyperparameters"]
    names = training_parameter_names(task)
    return {n: hps[n]["x-runtime-name"] for n in names if "x-runtime-name" in hps.get(n, {})}


@lru_cache(maxsize=1)
def package_settings_schema() -> dict:
    """The schema of a model package's inference-only settings.json keys."""
    return json.loads(PACKAGE_SETTINGS_PATH.read_text(encoding="utf-8"))


def inference_default(task: str, key: str) -> Any:
    """What a prediction uses for settings.json key `key` (a runtime name) when the package
    lacks it: the inference-only default of package_settings.schema.json, else the task's
    default of the training parameter of that runtime name (tile_predictions_nms_thresh)."""
    spec = package_settings_schema()["properties"].get(key, {})
    if "default" in spec:
        return copy.deepcopy(spec["default"])
    by_runtime = {runtime: name for name, runtime in runtime_names(task).items()}
    return task_default(task, by_runtime.get(key, key))


def mask_settings() -> dict[str, Any]:
    """The instance segmentation keys every segmentation package's settings.json holds."""
    schema = package_settings_schema()
    return {
        key: copy.deepcopy(schema["properties"][key]["default"]) for key in schema["x-mask-keys"]
    }


def _sampling_schema() -> dict:
    return _job_schema()["properties"]["sweep"]["properties"]["sampling_algorithm"]


def sampler_names() -> list[str]:
    """The `sweep.sampling_algorithm` names (random, grid, bayesian), the schema's enum."""
    return list(_sampling_schema()["else"]["enum"])


def default_sampler() -> str:
    """The sampling algorithm of a sweep that names none."""
    return _sampling_schema()["default"]


def sampler_options(name: str) -> dict[str, Any]:
    """The object-form keys sampler `name` takes, with their defaults ({"seed": None, "rule":
    "random"} for random; {} for grid and bayesian, which take none)."""
    form = _sampling_schema()["then"]
    refused = {
        key
        for branch in form.get("allOf", [])
        if name in branch["if"]["properties"]["type"]["enum"]
        for key, rule in branch["then"]["properties"].items()
        if rule == {"not": {}}
    }
    props = form["properties"]
    return {
        key: copy.deepcopy(spec["default"])
        for key, spec in props.items()
        if key != "type" and key not in refused and "default" in spec
    }


def sampler_rules() -> list[str]:
    """The `rule` values of random sampling (random, sobol)."""
    return list(_sampling_schema()["then"]["properties"]["rule"]["enum"])


@lru_cache(maxsize=1)
def _weights() -> dict:
    return json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))["models"]


def pretrained_weights(model: str) -> dict | None:
    """Where `model`'s pretrained weights are cached (weights.json), or None when it has
    none: {"source": "torchvision", "weights", "file", "url"}, {"source": "timm", "weights",
    "repo", "file"} or {"source": "ultralytics", "weights", "files": {model_size: file}}."""
    entry = _weights().get(model)
    if entry is None and is_hub_id(model):  # any hub id: its safetensors in the hub cache
        return {"source": "huggingface", "weights": model, "repo": model, "file": HUB_WEIGHTS}
    return copy.deepcopy(entry) if entry is not None else None


def job_name_pattern() -> str:
    """The rule for names that become folder names (job `name`, `experiment_name`, `--name`):
    a regular expression, written once in the schema's `$defs/path_name`."""
    return _job_schema()["$defs"]["path_name"]["pattern"]


def advanced_settings_schema() -> dict:
    """The schema of the JSON object inside `training_parameters.advanced_settings`."""
    return copy.deepcopy(_job_schema()["$defs"]["advanced_settings"])


def advanced_settings_defaults() -> dict[str, bool]:
    """{"stream_image_files": false, "apply_automl_train_augmentations": true, ...}."""
    props = _job_schema()["$defs"]["advanced_settings"]["properties"]
    # image_cache_size has no fixed default (a share of the free disk, computed per job).
    return {name: spec["default"] for name, spec in props.items() if "default" in spec}


def schema_file(task: str | None = None) -> Path:
    """Path of the schema file editors should point at (one file serves every task)."""
    if task is not None:
        _check_task(task)
    return JOB_SCHEMA_PATH


@lru_cache(maxsize=1)
def _limits() -> dict:
    return json.loads(LIMITS_PATH.read_text(encoding="utf-8"))["limits"]


def limit_names() -> list[str]:
    """Names of every input bound in limits.json."""
    return list(_limits())


def limit_spec(name: str) -> dict:
    """{default, env, description[, flag]} of one bound."""
    return copy.deepcopy(_limits()[name])


def limit(name: str) -> int:
    """The value of one input bound: its environment variable when set, else its default."""
    spec = _limits()[name]
    raw = os.environ.get(spec["env"], "").strip()
    if not raw:
        return int(spec["default"])
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = -1
    if value < 1:
        from automl.engine.errors import ConfigError

        raise ConfigError(
            f"{spec['env']}={raw!r}: expected a whole number >= 1 ({spec['description']}; "
            f"default {spec['default']})"
        )
    return value


def limit_hint(name: str) -> str:
    """How a user raises a bound: 'set AUTOML_MAX_...=N' (and the flag, where one exists)."""
    spec = _limits()[name]
    flag = f" or pass {spec['flag']} N" if spec.get("flag") else ""
    return f"raise it with {spec['env']}=N{flag}"
