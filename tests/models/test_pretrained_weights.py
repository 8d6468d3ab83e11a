"""Pretrained weights: the offline error names the cache and the fetch command; cached
files are used without any network."""

from __future__ import annotations

import pytest
import torch

from automl.engine.models import WeightsUnavailableError, _weights, build_model, get_model_spec


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Empty caches and no network: any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(_weights, "url_reachable", lambda *a, **k: False)

    def no_download(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(_weights, "download", no_download)
    return tmp_path


@pytest.mark.parametrize("name", ["resnet18", "seresnext"])
def test_offline_without_cache_raises_actionable_error(offline, name):
    with pytest.raises(WeightsUnavailableError) as info:
        build_model(name, 3, pretrained=True)
    text = str(info.value)
    assert name in text
    assert str(offline) in text  # the cache location
    assert f"automl weights fetch {name}" in text
    assert "pretrained: false" in text


def test_hf_hub_offline_is_detected_without_probing(offline, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(_weights, "url_reachable", pytest.fail)
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE"):
        build_model("vits16r224", 3, pretrained=True)


def test_cached_torchvision_weights_load_without_network(offline):
    spec = get_model_spec("resnet18")
    reference = build_model("resnet18", 1000, pretrained=False)
    url = _weights.torchvision_weights(spec).url
    cached = _weights.cache_location(spec) / url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cached)
    model = build_model("resnet18", 3, pretrained=True)
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert model.fc.out_features == 3


def test_probe_is_false_when_nothing_answers():
    assert _weights.url_reachable("http://127.0.0.1:9/weights.pth", timeout_s=0.5) is False


def test_tiny_model_has_no_pretrained_weights():
    spec = get_model_spec("test_tiny_cnn")
    assert not spec.has_pretrained
    build_model("test_tiny_cnn", 2, pretrained=True)  # trains from scratch, no error
