"""Pretrained weights a job needs, checked before any training.

The models a job can train: the fixed `model_name`, every `model_name` choice of every
search sub-space, or AutoMode's portfolio on this machine's device; each with the `pretrained`
and YOLO `model_size` values it can get. A model whose weights are not in the libraries'
caches gets a warning at `automl job validate` (with the `automl weights fetch` command),
and at `automl job create` a download probe: when it fails the job stops before its data is
prepared, instead of trial 0 failing after it.

Which file each model needs is recorded in schemas/weights.json and the caches are found by
engine/utils/library_caches.py, so the validate-time check imports no torch (seconds and
most of a GB otherwise); only the create-time download probe loads the model registry.
"""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
from urllib.parse import urlparse

from automl import schemas
from automl.engine.errors import ConfigError
from automl.engine.utils import library_caches

logger = logging.getLogger("automl.runs")
_CHOSEN_KEYS = ("model_name", "pretrained", "model_size")
_CHILD_TIMEOUT_S = 120.0  # the child's imports (torch, torchvision: seconds on a busy machine)
_PROBE_BUDGET_S = 5.0  # per needed file: at most one HTTP HEAD of PROBE_TIMEOUT_S each
_CHILD_CODE = "import sys; from automl.engine.runs.weights_check import main; sys.exit(main())"


def trial_variants(job) -> list[dict]:
    """The distinct (model_name, pretrained, model_size) settings the job's trials can get,
    each merged over the user's training_parameters."""
    fixed = dict(job.user_training_parameters)
    if job.mode == "sweep":
        partials = [p for space in job.resolved["search_space"] for p in _choices(space)]
    elif job.mode == "automode":
        partials = _portfolio(job, fixed)
    else:
        partials = [{}]
    return [{**fixed, **partial} for partial in partials]


def _choices(subspace: dict) -> list[dict]:
    """Every combination of the sub-space's values of model_name, pretrained, model_size."""
    keys = [key for key in _CHOSEN_KEYS if key in subspace]
    values = [_values(subspace[key]) for key in keys]
    return [dict(zip(keys, combination, strict=True)) for combination in itertools.product(*values)]


def _values(value) -> list:
    if isinstance(value, dict):
        return list(value.get("values") or [])
    return [value]


def _portfolio(job, fixed: dict) -> list[dict]:
    from automl.engine.sweep.automode import portfolio_models

    max_trials = job.resolved["limits"]["max_trials"]
    return portfolio_models(job.task, _cuda_available(), max_trials, fixed)


def _cuda_available() -> bool:
    from automl.engine.utils.gpus import cuda_may_be_present

    if not cuda_may_be_present():
        return False
    import torch

    return torch.cuda.is_available()


def pretrained_models(job) -> list[tuple[str, str | None]]:
    """(model_name, model_size or None) of every trial setting that loads pretrained weights."""
    from automl.engine.config import resolve_trial_parameters

    needed = []
    for variant in trial_variants(job):
        if variant.get("pretrained") is False:
            continue  # known without the defaults: no torch import for offline jobs
        try:
            params = resolve_trial_parameters(job.task, variant)
        except ConfigError:
            continue  # an invalid combination is the sweep's to report, not ours
        if params.get("pretrained"):
            needed.append((params["model_name"], params.get("model_size")))
    return list(dict.fromkeys(needed))


def missing_weights(needed: list[tuple[str, str | None]], probe: bool = False) -> list[dict]:
    """One record per needed weights file that is not cached here: model, model size (for
    models with one file per size), cache folder, and (with `probe`) why it cannot be
    downloaded, None when it can. Without `probe` nothing imports torch."""
    missing, reachable = [], {}
    for name, size in needed:
        facts = schemas.pretrained_weights(name)  # None: the model has no pretrained weights
        per_size = facts is not None and "files" in facts
        if facts is None or library_caches.cached_file(facts, size if per_size else None):
            continue
        record = {"model": name, "size": size if per_size else None}
        record["cache"] = str(library_caches.cache_dir(facts["source"]))
        record["reason"] = _probe(name, size, reachable) if probe else None
        missing.append(record)
    return missing


def _probe(name: str, size: str | None, reachable: dict[str | None, bool]) -> str | None:
    """Why the weights of model `name` cannot be downloaded, or None; one probe per site."""
    from automl.engine.models import get_model_spec
    from automl.engine.models._weights import (
        PROBE_TIMEOUT_S,
        offline_forced,
        url_reachable,
        weights_url,
        with_model_size,
    )

    spec = with_model_size(get_model_spec(name), size)
    if offline_forced(spec):
        return "HF_HUB_OFFLINE is set"
    url = weights_url(spec)
    host = urlparse(url).hostname
    if host not in reachable:
        reachable[host] = url_reachable(url)
    return None if reachable[host] else f"{host} did not answer within {PROBE_TIMEOUT_S:.0f} s"


def fetch_commands(missing: list[dict]) -> list[str]:
    """`automl weights fetch` command lines that put these weights into the caches."""
    plain = [record["model"] for record in missing if record["size"] is None]
    commands = [f"automl weights fetch {' '.join(dict.fromkeys(plain))}"] if plain else []
    for record in missing:
        if record["size"] is not None:
            commands.append(f"automl weights fetch {record['model']} --model-size {record['size']}")
    return commands


def _describe(missing: list[dict]) -> str:
    return ", ".join(
        f"{record['model']} ({record['size']})" if record["size"] else record["model"]
        for record in missing
    )


def _commands(missing: list[dict]) -> str:
    return "; ".join(f"`{command}`" for command in fetch_commands(missing))


def weights_warnings(job) -> list[str]:
    """For `automl job validate`: one line naming the models whose weights are not cached
    (no download is tried: validating needs no network)."""
    needed = pretrained_models(job)
    try:
        missing = missing_weights(needed) if needed else []
    except (ImportError, OSError, MemoryError) as exc:  # huggingface_hub finds timm's cache
        return [f"pretrained weights were not checked ({type(exc).__name__}: {exc})"]
    if not missing:
        return []
    return [
        f"pretrained weights not in the caches for {_describe(missing)}: `automl job create` "
        f"downloads them (network needed); to run offline, first run {_commands(missing)} on "
        "a machine with network access (copy the caches here), or set "
        "training_parameters.pretrained: false"
    ]


def require_weights(job) -> None:
    """For `automl job create`: return when every needed weights file is cached or its
    download site answers (the trial then downloads it, as before); otherwise raise
    WeightsUnavailableError, before the run's data is prepared."""
    needed = pretrained_models(job)
    if not needed:
        return
    failed = [record for record in _missing_probed(needed) if record["reason"]]
    if not failed:
        return
    from automl.engine.models import WeightsUnavailableError

    reasons = "; ".join(f"{record['model']}: {record['reason']}" for record in failed)
    caches = ", ".join(dict.fromkeys(record["cache"] for record in failed))
    raise WeightsUnavailableError(
        f"pretrained weights for {_describe(failed)} are not in the caches ({caches}) and "
        f"cannot be downloaded ({reasons})",
        hint=f"run {_commands(failed)} on a machine with network access and copy the caches "
        "here, or train from scratch with training_parameters.pretrained: false",
    )


def _missing_probed(needed: list[tuple[str, str | None]]) -> list[dict]:
    """missing_weights(needed, probe=True), in a child process unless torch is loaded here
    anyway: the probe builds the download URLs through the model registry (torch), which
    would otherwise stay in the controller's memory (most of a GB) for the whole job only
    to answer this question."""
    from automl.engine.utils.gpus import cuda_may_be_present

    if "torch" in sys.modules or cuda_may_be_present():
        return missing_weights(needed, probe=True)
    command = [sys.executable, "-c", _CHILD_CODE]
    timeout_s = _CHILD_TIMEOUT_S + _PROBE_BUDGET_S * len(needed)
    try:
        child = subprocess.run(
            command, input=json.dumps(needed), capture_output=True, text=True, timeout=timeout_s
        )
        if child.returncode == 0:
            return json.loads(child.stdout)
        reason = child.stderr.strip().splitlines()[-1:] or [f"exit code {child.returncode}"]
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        reason = [str(error)]
    logger.warning("pretrained weights not checked before training: %s", reason[0])
    return []


def main() -> int:
    """Child: needed weights as JSON on stdin -> missing_weights(probe=True) on stdout."""
    needed = [(name, size) for name, size in json.loads(sys.stdin.read())]
    sys.stdout.write(json.dumps(missing_weights(needed, probe=True)) + "\n")
    return 0
