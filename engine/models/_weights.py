"""Pretrained weights through the libraries' own caches (TORCH_HOME, the Hugging Face cache).

Nothing here has a cache of its own: torchvision weights land in `torch.hub.get_dir()` and
timm weights in the Hugging Face hub cache, so a user's existing downloads are reused.
Which file each model needs is recorded in schemas/weights.json, and the folders are
found by engine/utils/library_caches.py (no torch needed to look). When a file is not
cached, a short connection probe decides, within seconds, whether a download can work;
offline, the error names the cache and `automl weights fetch NAME`.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from automl import schemas
from automl.engine.errors import AutomlError
from automl.engine.models._base import ModelSpec
from automl.engine.utils import library_caches

logger = logging.getLogger("automl.models.weights")

PROBE_TIMEOUT_S = 3.0


class WeightsUnavailableError(AutomlError):
    """Pretrained weights are neither cached nor downloadable."""


def torchvision_weights(spec: ModelSpec):
    """The torchvision weights enum member of `spec` (e.g. ResNet18_Weights.IMAGENET1K_V1)."""
    from torchvision.models import get_weight

    return get_weight(spec.weights_id)


def weights_facts(spec: ModelSpec) -> dict:
    """schemas/weights.json's entry of `spec` (source, file or files, repo, url)."""
    return schemas.pretrained_weights(spec.name)


def cache_location(spec: ModelSpec) -> Path:
    """The folder the library keeps this model's weights in."""
    return library_caches.cache_dir(spec.source)


def cached_weights_file(spec: ModelSpec) -> Path | None:
    """The cached weights file of `spec`, or None when it has not been downloaded."""
    if not spec.has_pretrained:
        return None
    return library_caches.cached_file(weights_facts(spec), pinned_model_size(spec))


def pinned_model_size(spec: ModelSpec) -> str | None:
    """The model_size a YOLO spec was pinned to (`with_model_size`, medium when none);
    None for the families with one weights file."""
    if "files" not in weights_facts(spec):
        return None
    from automl.engine.models._yolo import SIZE_ALIASES, default_model_size, model_scale

    size = spec.extra.get("model_size") or default_model_size()
    model_scale(size)  # an unknown size is the user's error, named with the sizes there are
    return SIZE_ALIASES.get(size, size)


def hub_file_url(facts: dict) -> str:
    """The Hugging Face download URL of a timm entry (HF_ENDPOINT honoured)."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{facts['repo']}/resolve/main/{facts['file']}"


def ultralytics_url(facts: dict, spec: ModelSpec) -> str:
    from automl.engine.models._yolo import weights_url as yolo_url

    return yolo_url(library_caches.file_name(facts, pinned_model_size(spec)))


WEIGHTS_URLS = {
    "torchvision": lambda facts, spec: facts["url"],
    "timm": lambda facts, spec: hub_file_url(facts),
    "huggingface": lambda facts, spec: hub_file_url(facts),
    "ultralytics": ultralytics_url,
}


def weights_url(spec: ModelSpec) -> str:
    """Where the library downloads the weights from."""
    facts = weights_facts(spec)
    return WEIGHTS_URLS[facts["source"]](facts, spec)


def url_reachable(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when an HTTP HEAD of `url` gets any answer within `timeout_s`.

    A plain TCP connect is not enough: sandboxes and proxies accept connections they then
    never serve, and the libraries' downloads have no timeout of their own.
    """
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return True
    except urllib.error.HTTPError:
        return True  # the server answered (a redirect target or auth issue is its business)
    except (OSError, ValueError):
        return False


# the environment variable that forbids a source's downloads, where the library has one
OFFLINE_VARIABLES = {"timm": "HF_HUB_OFFLINE", "huggingface": "HF_HUB_OFFLINE"}
# how a user points a source at another cache folder
CACHE_SETTINGS = {
    "torchvision": "TORCH_HOME / HF_HOME",
    "timm": "TORCH_HOME / HF_HOME",
    "huggingface": "HF_HOME / HF_HUB_CACHE",
    "ultralytics": "Ultralytics' weights_dir (`yolo settings weights_dir=...`)",
}


def offline_forced(spec: ModelSpec) -> bool:
    variable = OFFLINE_VARIABLES.get(spec.source)
    return bool(variable) and os.environ.get(variable, "").lower() in ("1", "true", "yes")


def unavailable_error(spec: ModelSpec, reason: str) -> WeightsUnavailableError:
    facts = weights_facts(spec)
    weights_id = spec.weights_id
    if "files" in facts:  # one file per model_size: name the one needed
        weights_id = library_caches.file_name(facts, pinned_model_size(spec))
    caches = CACHE_SETTINGS[spec.source]
    return WeightsUnavailableError(
        f"pretrained weights for model {spec.name!r} ({spec.source} {weights_id}) are not "
        f"in the cache at {cache_location(spec)} and cannot be downloaded: {reason}",
        hint=f"run `automl weights fetch {spec.name}` on a machine with network access and copy "
        f"the cache folder here (or point {caches} at it), or train from scratch "
        "with training_parameters.pretrained: false",
    )


def ensure_weights_available(spec: ModelSpec) -> None:
    """Return when the weights are cached or downloadable; raise WeightsUnavailableError."""
    if cached_weights_file(spec) is not None:
        return
    if offline_forced(spec):
        raise unavailable_error(spec, "HF_HUB_OFFLINE is set")
    url = weights_url(spec)
    if not url_reachable(url):
        host = urlparse(url).hostname
        raise unavailable_error(spec, f"{host} did not answer within {PROBE_TIMEOUT_S:.0f} s")
    logger.info("downloading pretrained weights for %s into %s", spec.name, cache_location(spec))


def weights_file(spec: ModelSpec) -> Path:
    """The cached weights file of `spec`, downloading it first when possible."""
    found = cached_weights_file(spec)
    if found is not None:
        return found
    ensure_weights_available(spec)
    try:
        download(spec)
    except (OSError, RuntimeError, ValueError) as exc:  # HTTP and hub errors derive from these
        raise unavailable_error(spec, f"download failed ({exc})") from exc
    found = cached_weights_file(spec)
    if found is None:
        raise unavailable_error(spec, "the download left no file in the cache")
    return found


def download_ultralytics(spec: ModelSpec) -> None:
    """Ultralytics' own downloader refuses while YOLO_OFFLINE is set (we set it so that it
    never downloads on its own); torch's has the timeout-free behaviour we probe for."""
    import torch

    facts = weights_facts(spec)
    path = cache_location(spec) / library_caches.file_name(facts, pinned_model_size(spec))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(weights_url(spec), str(path), progress=False)


def download_torchvision(spec: ModelSpec) -> None:
    import torch

    torch.hub.load_state_dict_from_url(
        weights_url(spec), progress=False, check_hash=True, weights_only=True
    )


def download_timm(spec: ModelSpec) -> None:
    from huggingface_hub import hf_hub_download

    facts = weights_facts(spec)
    hf_hub_download(facts["repo"], facts["file"])


def download_hub_model(spec: ModelSpec) -> None:
    """A Transformers hub id: its config, preprocessor config and safetensors weights."""
    from automl.engine.utils.hf_hub import fetch_hub_model

    fetch_hub_model(weights_facts(spec)["repo"])


DOWNLOADS = {
    "torchvision": download_torchvision,
    "timm": download_timm,
    "huggingface": download_hub_model,
    "ultralytics": download_ultralytics,
}


def download(spec: ModelSpec) -> None:
    """Download through the library's own function, into its own cache."""
    DOWNLOADS[spec.source](spec)


def with_model_size(spec: ModelSpec, model_size: str | None) -> ModelSpec:
    """`spec` pinned to one YOLO model_size (the weights file differs per size)."""
    import dataclasses

    return dataclasses.replace(spec, extra={**spec.extra, "model_size": model_size})


def yolo_weights_file(spec: ModelSpec, model_size: str | None) -> Path:
    """The cached YOLO checkpoint of `model_size` (e.g. yolov8s.pt), downloaded when possible."""
    return weights_file(with_model_size(spec, model_size))


def fetch_weights(spec: ModelSpec, model_size: str | None = None) -> Path:
    """Make sure the weights of `spec` are in the library cache; return the file.

    `model_size` picks the YOLO checkpoint (s/m/l/x; medium by default)."""
    if not spec.has_pretrained:
        raise AutomlError(
            f"model {spec.name!r} has no pretrained weights to fetch",
            hint="it always trains from scratch",
        )
    if "files" in weights_facts(spec):  # one checkpoint per model_size
        spec = with_model_size(spec, model_size)
    return weights_file(spec)
