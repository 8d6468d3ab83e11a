"""Transformers image classifiers by hub id (`org/name`): resolution, building, pretrained
weights from the Hugging Face cache (a hand-made cache entry: nothing is downloaded),
packages that rebuild without the hub, job validation, and one job end to end with the
tiny Transformers ViT (`test_tiny_vit`)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _support.jobs import write_job
from _support.paths import BUNDLED_DATA_DIR

AUTOML = str(Path(sys.executable).with_name("automl"))
HUB_ID = "testorg/tiny-vit"
LABELS = ["a", "b", "c"]


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache of the test's own, downloads off."""
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    return cache


def cache_tiny_vit(cache: Path, hub_id: str = HUB_ID) -> torch.nn.Module:
    """Put a tiny ViT (21 classes, as a pretrained checkpoint has) into `cache` the way
    huggingface_hub lays a snapshot out; return the model whose weights were saved."""
    from transformers import ViTConfig, ViTForImageClassification

    from automl.engine.models._hf_classification import TINY_VIT_CONFIG

    torch.manual_seed(0)
    config = ViTConfig(**{k: v for k, v in TINY_VIT_CONFIG.items() if k != "model_type"})
    config.num_labels = 21
    model = ViTForImageClassification(config)
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    model.save_pretrained(snapshot, safe_serialization=True)
    processor = {"image_mean": [0.4, 0.4, 0.4], "image_std": [0.2, 0.2, 0.2], "size": 32}
    (snapshot / "preprocessor_config.json").write_text(json.dumps(processor))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    return model


def test_any_hub_id_is_a_transformers_model_and_typos_still_get_suggestions():
    from automl.engine.errors import RegistryError
    from automl.engine.models import MODELS, get_model_spec, model_names

    spec = get_model_spec("someorg/some-model")
    assert (spec.family, spec.runtime, spec.source) == ("transformers",) * 2 + ("huggingface",)
    assert "image_classification_multilabel" in spec.tasks
    assert "someorg/some-model" in MODELS
    assert "someorg/some-model" not in model_names("image_classification")  # not listed
    assert "google/vit-base-patch16-224" in model_names("image_classification")  # curated
    with pytest.raises(RegistryError, match="did you mean 'resnet50'"):
        get_model_spec("resnet5")


def test_tiny_vit_trains_a_step_at_its_size_and_at_another():
    from automl.engine.models import build_model

    model = build_model("test_tiny_vit", 3, pretrained=False, crop_size=32)
    for size in (32, 48):  # 48: the position embeddings are interpolated
        logits = model(torch.randn(2, 3, size, size))
        assert logits.shape == (2, 3)
    logits.sum().backward()
    assert model.model.config.num_labels == 3


def test_pretrained_weights_come_from_the_cache_with_a_new_head(hub_cache):
    from automl.engine.models import build_model, get_model_spec

    saved = cache_tiny_vit(hub_cache)
    spec = get_model_spec(HUB_ID)
    assert spec.mean == (0.4, 0.4, 0.4) and spec.input_size == 32  # its image processor
    model = build_model(HUB_ID, len(LABELS), pretrained=True, crop_size=32)
    loaded = model.model.state_dict()
    for key, value in saved.state_dict().items():
        if key.startswith("classifier."):
            assert loaded[key].shape[0] == len(LABELS)  # the job's labels, a new head
        else:
            assert torch.equal(loaded[key], value), key


def test_offline_without_the_files_is_one_clear_error(hub_cache):
    from automl.engine.models import WeightsUnavailableError, build_model

    with pytest.raises(WeightsUnavailableError, match="automl weights fetch other/model"):
        build_model("other/model", 2, pretrained=True)


def test_a_package_records_its_config_and_loads_without_the_hub(hub_cache, tmp_path):
    from automl.engine.models import build_model, load_model_package, write_model_package
    from automl.engine.predict import Predictor

    cache_tiny_vit(hub_cache)
    model = build_model(HUB_ID, len(LABELS), pretrained=True, crop_size=32).eval()
    params = {"validation_resize_size": 36, "validation_crop_size": 32, "training_crop_size": 32}
    out = write_model_package(
        tmp_path / "pkg",
        model,
        task="image_classification_multilabel",
        model_name=HUB_ID,
        labels=LABELS,
        training_parameters=params,
    )
    record = torch.load(out / "model.pt", weights_only=True)
    assert record["hf_config"]["model_type"] == "vit"
    assert json.loads((out / "settings.json").read_text())["mean"] == [0.4, 0.4, 0.4]
    assert "transformers==" in (out / "requirements.txt").read_text()
    for child in hub_cache.iterdir():  # the hub's copy is gone: the package is enough
        subprocess.run(["rm", "-rf", str(child)], check=True)
    loaded, meta = load_model_package(out)
    pixels = torch.randn(1, 3, 32, 32)
    assert torch.allclose(loaded(pixels), model(pixels), atol=1e-6)
    from PIL import Image

    predictor = Predictor.from_package(out)
    [result] = predictor.predict([Image.new("RGB", (40, 40), (200, 10, 10))])
    assert result["labels"] == LABELS and len(result["probs"]) == 3  # sigmoid scores


def test_a_recorded_config_of_unknown_model_type_is_refused(tmp_path):
    from automl.engine.errors import AutomlError
    from automl.engine.models import build_model, load_model_package, write_model_package

    model = build_model("test_tiny_vit", 2, pretrained=False)
    params = {"validation_resize_size": 36, "validation_crop_size": 32, "training_crop_size": 32}
    out = write_model_package(
        tmp_path,
        model,
        task="image_classification",
        model_name="test_tiny_vit",
        labels=["x", "y"],
        training_parameters=params,
    )
    record = torch.load(out / "model.pt", weights_only=True)
    record["hf_config"]["model_type"] = "remote_code_model"
    torch.save(record, out / "model.pt")
    with pytest.raises(AutomlError, match="not a Transformers model"):
        load_model_package(out)


def test_a_missing_transformers_is_one_line_naming_the_extra(monkeypatch):
    from automl.engine.errors import AutomlError
    from automl.engine.models import build_model
    from automl.engine.utils import hf_hub

    monkeypatch.setattr(hf_hub, "transformers_installed", lambda: False)
    with pytest.raises(AutomlError) as caught:
        build_model("test_tiny_vit", 2, pretrained=False)
    assert str(caught.value) == (
        "a Transformers model needs the 'transformers' extra: "
        "pip install 'automl-vision[transformers]'"
    )


def test_automode_rule_wants_cached_weights_or_a_gpu(hub_cache):
    from automl.engine.utils.hf_hub import automode_hub_candidates, automode_may_use

    assert not automode_may_use(HUB_ID, cuda=False)
    assert automode_may_use(HUB_ID, cuda=True)
    cache_tiny_vit(hub_cache)
    assert automode_may_use(HUB_ID, cuda=False)
    assert not automode_may_use("seresnext", cuda=True)
    assert automode_hub_candidates("image_classification", on_gpu=False) == []  # none cached
    on_gpu = automode_hub_candidates("image_classification", on_gpu=True)
    assert [row[0] for row in on_gpu][1] == "google/vit-base-patch16-224"
    assert on_gpu[1][1:3] == (5e-05, 16)  # a classifier's own default learning rate
    detectors = automode_hub_candidates("image_object_detection", on_gpu=True)
    assert ("facebook/detr-resnet-50", 1e-4, 4, {}) in detectors  # a DETR's own defaults


def validate(job: Path, env: dict) -> subprocess.CompletedProcess:
    command = [AUTOML, "job", "validate", "--skip-data", "-f", str(job)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_job_validate_warns_on_uncurated_ids_and_refuses_offline_misses(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "c")}
    job = write_job(tmp_path, "image_classification", model="someorg/some-model")
    online = validate(job, env)
    assert online.returncode == 0, online.stderr
    assert "not one of the curated Transformers ids" in online.stdout + online.stderr
    offline = validate(job, {**env, "HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 1 and "Traceback" not in offline.stderr
    assert "automl weights fetch someorg/some-model" in offline.stdout
    typo = validate(write_job(tmp_path / "t", model="vitb16r22"), env)
    assert typo.returncode == 1 and "did you mean 'vitb16r224'" in typo.stdout


@pytest.mark.slow
def test_tiny_vit_job_trains_registers_predicts_serves_and_exports(tmp_path):
    """`job create` on bundled data as a user runs it; then the registered package predicts,
    exports to ONNX and serves (both request forms, and an explanation) in-process."""
    from fastapi.testclient import TestClient

    from automl.engine.export import export_onnx
    from automl.engine.predict import Predictor
    from automl.engine.registry import ModelRegistry
    from automl.engine.serving import create_app

    env = {**os.environ, "OMP_NUM_THREADS": "1", "AUTOML_HOME": str(tmp_path / "home")}
    job = write_job(tmp_path, "image_classification", model="test_tiny_vit", learning_rate=0.001)
    run_dir = tmp_path / "run"
    command = [AUTOML, "job", "create", "-f", str(job), "--run-dir", str(run_dir), "-o", "json"]
    created = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert created.returncode == 0, created.stderr
    settings = json.loads((run_dir / "best_model" / "settings.json").read_text())
    assert settings["model_name"] == "test_tiny_vit" and settings["mean"] == [0.5] * 3
    version = ModelRegistry(tmp_path / "home").register("tinyvit", run_dir / "best_model")
    assert (version.path / "model.pt").is_file()

    predictor = Predictor.from_package(version.path)
    image = next((BUNDLED_DATA_DIR / "flowers5" / "valid" / "images" / "daisy").glob("*.jpg"))
    from PIL import Image

    [result] = predictor.predict([Image.open(image).convert("RGB")])
    assert len(result["probs"]) == 5
    exported = export_onnx(predictor, tmp_path / "m.onnx")
    assert exported.max_abs_diff < 1e-4

    value = base64.b64encode(image.read_bytes()).decode()
    with TestClient(create_app(predictor, auth_key="k")) as client:
        headers = {"Authorization": "Bearer k"}
        listed = client.post("/score", json={"input_data": [value]}, headers=headers)
        assert listed.status_code == 200 and "label" in listed.json()[0]["0"]
        explained = json.dumps({"image_base64": value, "model_explainability": True})
        body = {"input_data": {"columns": ["image"], "data": [explained]}}
        answer = client.post("/score", json=body, headers=headers)
        assert answer.status_code == 200 and "visualizations" in answer.json()[0]


def test_weights_fetch_takes_hub_ids(cli, hub_cache):
    """`automl weights fetch org/name` fills the Hugging Face cache; offline, a cached copy
    is found and a missing one is one line naming the id."""
    cache_tiny_vit(hub_cache)
    code, out, _ = cli(["weights", "fetch", HUB_ID, "--output", "json"])
    assert code == 0 and json.loads(out)[0]["file"].endswith("model.safetensors")
    code, _, err = cli(["weights", "fetch", "other/model"])
    assert code == 1 and "other/model" in err and "HF_HUB_OFFLINE" in err


@pytest.mark.parametrize("method", ["guided_gradcam", "integrated_gradients"])
def test_tiny_vit_explains_like_any_classifier(tmp_path, method):
    from PIL import Image

    from automl.engine.explain import explain_images
    from automl.engine.models import build_model, write_model_package
    from automl.engine.predict import Predictor

    params = {"validation_resize_size": 36, "validation_crop_size": 32, "training_crop_size": 32}
    model = build_model("test_tiny_vit", 2, pretrained=False)
    out = write_model_package(tmp_path, model, task="image_classification",
                              model_name="test_tiny_vit", labels=["x", "y"],
                              training_parameters=params)  # fmt: skip
    predictor = Predictor.from_package(out)
    image = Image.new("RGB", (40, 40), (120, 60, 30))
    [explained] = explain_images(predictor, [image], method=method, n_steps=4)
    assert "visualizations" in explained
