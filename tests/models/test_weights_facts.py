"""schemas/weights.json equals what the libraries say, and the torch-free cache lookup finds
the folders the libraries use (`automl job validate` relies on both without importing them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from automl import schemas
from automl.engine.models import MODELS, get_model_spec
from automl.engine.models._yolo import SIZE_SCALES, YOLO_MODELS
from automl.engine.utils import library_caches

PRETRAINED = [name for name in MODELS if get_model_spec(name).has_pretrained]


def test_every_model_with_weights_is_recorded_and_no_other():
    recorded = json.loads(schemas.WEIGHTS_PATH.read_text())["models"]
    # Transformers hub ids need no entry (their weights are the hub repository of the id);
    # the curated ones have one, for `automl weights list`
    assert set(recorded) <= set(PRETRAINED)
    assert {name for name in PRETRAINED if not schemas.is_hub_id(name)} <= set(recorded)
    for name in PRETRAINED:
        spec, facts = get_model_spec(name), schemas.pretrained_weights(name)
        assert (facts["source"], facts["weights"]) == (spec.source, spec.weights_id)


@pytest.mark.parametrize(
    "name", [n for n in PRETRAINED if get_model_spec(n).source == "torchvision"]
)
def test_torchvision_file_is_the_checkpoint_torch_hub_caches(name):
    from torchvision.models import get_weight

    facts = schemas.pretrained_weights(name)
    url = get_weight(facts["weights"]).url
    assert facts["url"] == url
    assert facts["file"] == os.path.basename(urlparse(url).path)  # torch.hub's file name


@pytest.mark.parametrize("name", [n for n in PRETRAINED if get_model_spec(n).source == "timm"])
def test_timm_repo_and_file_are_what_timm_downloads(name):
    from timm.models import get_pretrained_cfg
    from timm.models._hub import HF_SAFE_WEIGHTS_NAME

    facts = schemas.pretrained_weights(name)
    cfg = get_pretrained_cfg(facts["weights"])
    assert facts["repo"] == cfg.hf_hub_id
    assert facts["file"] == (cfg.hf_hub_filename or HF_SAFE_WEIGHTS_NAME)


@pytest.mark.parametrize("name", sorted(YOLO_MODELS))
def test_ultralytics_files_are_its_released_checkpoints_per_size(name):
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    _, yaml_stem = YOLO_MODELS[name]
    files = schemas.pretrained_weights(name)["files"]
    sizes = {size for size in SIZE_SCALES if size != "xlarge"}  # xlarge: an alias
    assert set(files) == sizes
    for size, file in files.items():
        assert file == yaml_stem.format(scale=SIZE_SCALES[size]) + ".pt"
        assert file in GITHUB_ASSETS_NAMES


@pytest.mark.parametrize(
    "env",
    [{}, {"TORCH_HOME": "/somewhere/torch"}, {"XDG_CACHE_HOME": "/cache"}, {"TORCH_HOME": "~/t"}],
)
def test_torch_hub_dir_follows_torchs_rule(env, monkeypatch):
    import torch

    for key in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert library_caches.torch_hub_dir_from_environment() == Path(torch.hub.get_dir())


@pytest.mark.parametrize("settings_file", [False, True])
def test_ultralytics_weights_dir_follows_its_settings(tmp_path, settings_file):
    """Asked before Ultralytics is imported (its settings file absent, or written by an
    earlier run with another weights_dir), then compared with Ultralytics' own answer."""
    config = tmp_path / "config"
    if settings_file:
        (config / "Ultralytics").mkdir(parents=True)
        weights = str(tmp_path / "my_weights")
        (config / "Ultralytics" / "settings.json").write_text(json.dumps({"weights_dir": weights}))
    code = (
        "import sys; from automl.engine.utils import library_caches as c; "
        "ours = c.ultralytics_weights_dir(); assert 'ultralytics' not in sys.modules; "
        "from ultralytics.utils import WEIGHTS_DIR; print(ours == WEIGHTS_DIR, ours, WEIGHTS_DIR)"
    )
    env = {**os.environ, "YOLO_CONFIG_DIR": str(config), "YOLO_OFFLINE": "1"}
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert child.returncode == 0, child.stderr
    # (Ultralytics first prints that it created its settings file)
    assert child.stdout.splitlines()[-1].startswith("True"), child.stdout


def test_cached_files_are_found_without_torch(tmp_path):
    """The validate-time lookup of a torchvision and a YOLO file imports neither library."""
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"x")
    code = (
        "import sys; from automl import schemas; "
        "from automl.engine.utils import library_caches as c; "
        "print(c.cached_file(schemas.pretrained_weights('resnet18')), "
        "c.cached_file(schemas.pretrained_weights('yolov8'), 'small'), "
        "'torch' in sys.modules or 'ultralytics' in sys.modules)"
    )
    (tmp_path / "config" / "Ultralytics").mkdir(parents=True)
    settings = {"weights_dir": str(tmp_path / "yolo_weights")}  # empty
    (tmp_path / "config" / "Ultralytics" / "settings.json").write_text(json.dumps(settings))
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch")}
    env["YOLO_CONFIG_DIR"] = str(tmp_path / "config")
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert child.returncode == 0, child.stderr
    found, yolo, imported = child.stdout.split()
    assert found.endswith("resnet18-f37072fd.pth") and yolo == "None" and imported == "False"
