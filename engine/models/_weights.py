"""Pretrained weights through the libraries' own caches (TORCH_HOME, the Hugging Face cache).

Nothing here has a cache of its own: torchvision weights land in `torch.hub.get_dir()` and
timm weights in the Hugging Face hub cache, so a user's existing downloads are reused.
When a file is not cached, a short connection probe decides, within seconds, whether a
download can work; offline, the error names the cache and `automl weights fetch NAME`.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from automl.engine.errors import AutomlError
from automl.engine.models._base import ModelSpec

logger = logging.getLogger("automl.models.weights")

PROBE_TIMEOUT_S = 3.0
TIMM_WEIGHTS_FILE = "model.safetensors"


class WeightsUnavailableError(AutomlError):
    """Pretrained weights are neither cached nor downloadable."""


def torchvision_weights(spec: ModelSpec):
    """The torchvision weights enum member of `spec` (e.g. ResNet18_Weights.IMAGENET1K_V1)."""
    from torchvision.models import get_weight

    return get_weight(spec.weights_id)


def hf_repo_id(spec: ModelSpec) -> str:
    return f"timm/{spec.weights_id}"


def cache_location(spec: ModelSpec) -> Path:
    """The folder the library keeps this model's weights in."""
    if spec.source == "ultralytics":
        from automl.engine.models._yolo import weights_dir

        return weights_dir()
    if spec.source == "torchvision":
        import torch

        return Path(torch.hub.get_dir()) / "checkpoints"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def cached_weights_file(spec: ModelSpec) -> Path | None:
    """The cached weights file of `spec`, or None when it has not been downloaded."""
    if not spec.has_pretrained:
        return None
    if spec.source == "ultralytics":
        path = cache_location(spec) / yolo_file_name(spec)
        return path if path.is_file() else None
    if spec.source == "torchvision":
        url = torchvision_weights(spec).url
        path = cache_location(spec) / os.path.basename(urlparse(url).path)
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hf_repo_id(spec), TIMM_WEIGHTS_FILE)
    return Path(found) if isinstance(found, str) else None


def weights_url(spec: ModelSpec) -> str:
    """Where the library downloads the weights from."""
    if spec.source == "ultralytics":
        from automl.engine.models._yolo import weights_url as yolo_url

        return yolo_url(yolo_file_name(spec))
    if spec.source == "torchvision":
        return torchvision_weights(spec).url
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{hf_repo_id(spec)}/resolve/main/{TIMM_WEIGHTS_FILE}"


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


def offline_forced(spec: ModelSpec) -> bool:
    if spec.source == "timm":
        return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    return False


def unavailable_error(spec: ModelSpec, reason: str) -> WeightsUnavailableError:
    weights_id = yolo_file_name(spec) if spec.source == "ultralytics" else spec.weights_id
    caches = "TORCH_HOME / HF_HOME"
    if spec.source == "ultralytics":  # Ultralytics' settings hold its weights dir
        caches = "Ultralytics' weights_dir (`yolo settings weights_dir=...`)"
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


def download(spec: ModelSpec) -> None:
    """Download through the library's own function, into its own cache."""
    if spec.source == "ultralytics":
        import torch

        # Ultralytics' own downloader refuses while YOLO_OFFLINE is set (we set it so that it
        # never downloads on its own); torch's has the timeout-free behaviour we probe for
        path = cache_location(spec) / yolo_file_name(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weights_url(spec), str(path), progress=False)
        return
    if spec.source == "torchvision":
        import torch

        torch.hub.load_state_dict_from_url(
            torchvision_weights(spec).url, progress=False, check_hash=True, weights_only=True
        )
        return
    from huggingface_hub import hf_hub_download

    hf_hub_download(hf_repo_id(spec), TIMM_WEIGHTS_FILE)


def yolo_file_name(spec: ModelSpec) -> str:
    """The YOLO checkpoint of `spec` at the size chosen by `with_model_size` (medium when
    none is chosen, Azure's default model_size)."""
    from automl.engine.models._yolo import weights_name

    return weights_name(spec, spec.extra.get("model_size"))


def with_model_size(spec: ModelSpec, model_size: str | None) -> ModelSpec:
    """`spec` pinned to one YOLO model_size (the weights file differs per size)."""
    import dataclasses

    return dataclasses.replace(spec, extra={**spec.extra, "model_size": model_size})


def yolo_weights_file(spec: ModelSpec, file_name: str) -> Path:
    """The cached YOLO checkpoint `file_name` (e.g. yolov8s.pt), downloaded when possible."""
    from automl.engine.models._yolo import SIZE_SCALES, model_scale

    size = next(s for s in SIZE_SCALES if file_name == spec.weights_id.format(scale=model_scale(s)))
    return weights_file(with_model_size(spec, size))


def fetch_weights(spec: ModelSpec, model_size: str | None = None) -> Path:
    """Make sure the weights of `spec` are in the library cache; return the file.

    `model_size` picks the YOLO checkpoint (s/m/l/x; medium by default)."""
    if not spec.has_pretrained:
        raise AutomlError(
            f"model {spec.name!r} has no pretrained weights to fetch",
            hint="it always trains from scratch",
        )
    if spec.source == "ultralytics":
        spec = with_model_size(spec, model_size)
    return weights_file(spec)
