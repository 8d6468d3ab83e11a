"""The augmentation_* keys (our extension): their defaults are Azure's transform, and each
one changes the training transform as documented."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from automl import schemas
from automl.engine.config import resolve_trial_parameters
from automl.engine.tasks.classification import build_train_transform
from automl.engine.training.settings import AUGMENTATION_KEYS, TrainingSettings

KEYS = ("augmentation_min_crop_area", "augmentation_color_jitter", "augmentation_hflip")
CLASSIFICATION = ("image_classification", "image_classification_multilabel")


@pytest.fixture(scope="module")
def square() -> Image.Image:
    """A 48 px square with a left/right asymmetry (flips are visible)."""
    image = Image.new("RGB", (48, 48), (200, 30, 30))
    image.paste((20, 40, 220), (0, 0, 16, 48))
    return image


def _schema_kwargs(task: str = "image_classification") -> dict:
    return {key.removeprefix("augmentation_"): schemas.task_default(task, key) for key in KEYS}


def test_schema_defaults_are_azures_transform():
    """The defaults give exactly the transform a job without these keys always had."""
    assert AUGMENTATION_KEYS == KEYS
    for task in CLASSIFICATION:
        ours, azure = build_train_transform(64, **_schema_kwargs(task)), build_train_transform(64)
        assert ours.crop.scale == azure.crop.scale == (0.08, 1.0)
        assert ours.crop.ratio == azure.crop.ratio
        assert ours.jitter.ranges == azure.jitter.ranges == ((0.6, 1.4),) * 3 + ((-0.4, 0.4),)
        assert (ours.p_flip, ours.p_jitter) == (azure.p_flip, azure.p_jitter) == (0.5, 0.5)


def test_keys_are_marked_as_our_extension_and_searchable():
    for key in KEYS:
        assert schemas.hyperparameter_schema(key)["description"].startswith(
            "Extension of automl-vision"
        )
        for task in CLASSIFICATION:
            assert key in schemas.searchable_names(task)


def test_resolved_trial_parameters_carry_the_defaults_and_reject_bad_values():
    from automl.engine.errors import ConfigError

    params = resolve_trial_parameters("image_classification", {})
    assert {k: params[k] for k in KEYS} == dict(zip(KEYS, (0.08, 0.4, True), strict=True))
    with pytest.raises(ConfigError, match="augmentation_min_crop_area"):
        resolve_trial_parameters("image_classification", {"augmentation_min_crop_area": 1.5})


def test_whole_image_crop_without_flip_or_jitter_is_a_plain_resize(square):
    transform = build_train_transform(32, min_crop_area=1.0, color_jitter=0.0, hflip=False)
    reference = build_train_transform(32, min_crop_area=1.0, color_jitter=0.0, hflip=False)
    torch.manual_seed(0)
    first = transform(square)
    for seed in range(1, 8):
        torch.manual_seed(seed)
        assert torch.equal(transform(square), first)  # nothing random is left
    resized = square.resize((32, 32), Image.Resampling.BILINEAR, box=(0, 0, 48, 48))
    assert torch.allclose(first, reference.normalize(resized))


def test_hflip_true_flips_about_half_the_images(square):
    transform = build_train_transform(32, min_crop_area=1.0, color_jitter=0.0, hflip=True)
    torch.manual_seed(0)
    left_blue = [float(transform(square)[2, :, :4].mean()) > 0 for _ in range(40)]
    assert 8 <= sum(left_blue) <= 32  # flipped images have the blue band on the right


def test_color_jitter_strength_scales_all_four_ranges():
    transform = build_train_transform(32, color_jitter=0.1)
    assert transform.jitter.ranges == ((0.9, 1.1),) * 3 + ((-0.1, 0.1),)


def test_settings_pass_the_keys_and_old_specs_get_the_defaults():
    from automl.engine.training.settings import augmentation_settings

    params = resolve_trial_parameters("image_classification", {"augmentation_hflip": False})
    settings = TrainingSettings.from_parameters(params)
    assert augmentation_settings(settings, "image_classification") == {
        "min_crop_area": 0.08,
        "color_jitter": 0.4,
        "hflip": False,
    }
    old_spec = {k: v for k, v in params.items() if k not in KEYS}
    settings = TrainingSettings.from_parameters(old_spec)
    assert augmentation_settings(settings, "image_classification") == _schema_kwargs()
