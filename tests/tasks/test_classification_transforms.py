"""Classification preprocessing: the fast paths must match torchvision's definitions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

from automl.engine.tasks.classification import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AffineColorJitter,
    ChannelNormalizer,
    RandomResizedCropBox,
    build_train_transform,
    build_valid_transform,
)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A real photo from the bundled flowers (160x132 or so)."""
    from pathlib import Path

    folder = Path(__file__).parents[2] / "examples" / "data" / "flowers5" / "train" / "images"
    path = sorted(folder.rglob("*.jpg"))[0]
    return Image.open(path).convert("RGB")


def as_float(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_normalizer_matches_to_tensor_and_normalize(photo):
    expected = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(T.ToTensor()(photo))
    got = ChannelNormalizer(IMAGENET_MEAN, IMAGENET_STD)(photo)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("op", "reference"),
    [
        (0, F.adjust_brightness),
        (1, F.adjust_contrast),
        (2, F.adjust_saturation),
    ],
)
def test_each_jitter_step_matches_torchvision(photo, op, reference):
    """Brightness, contrast and saturation are exactly linear: the affine step must give
    torchvision's image up to rounding (contrast uses the mean of a reduced copy)."""
    jitter = AffineColorJitter()
    mean_rgb = np.asarray(photo, dtype=np.float64).reshape(-1, 3).mean(0) / 255.0
    for u in (0.1, 0.9):
        factor = 0.6 + 0.8 * u
        matrix, offset = jitter.step(op, u, mean_rgb)
        rows = np.concatenate([matrix, (offset * 255.0)[:, None]], axis=1)
        ours = photo.convert("RGB", tuple(rows.ravel().tolist()))
        theirs = reference(photo, factor)
        assert np.abs(as_float(ours) - as_float(theirs)).mean() < 1.0


def test_hue_rotation_keeps_grey_and_turns_colour(photo):
    jitter = AffineColorJitter()
    matrix, offset = jitter.step(3, 0.9, np.full(3, 0.5))  # a large hue shift
    grey = np.full(3, 0.4)
    assert np.allclose(matrix @ grey + offset, grey)  # a rotation about the grey axis
    red = matrix @ np.array([1.0, 0.0, 0.0])
    assert red.argmax() != 0  # red turned into another hue


def test_jitter_is_reproducible_under_the_torch_seed(photo):
    jitter = AffineColorJitter()
    torch.manual_seed(3)
    first = as_float(jitter(photo))
    torch.manual_seed(3)
    assert np.array_equal(first, as_float(jitter(photo)))


def test_random_resized_crop_matches_torchvision_geometry(photo):
    """Same parameter distribution as T.RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3)
    and the same pixels as crop-then-resize, up to the filter's use of pixels at the box
    edge."""
    crop = RandomResizedCropBox(96)
    width, height = photo.size
    areas, ratios = [], []
    torch.manual_seed(0)
    for _ in range(400):
        left, top, w, h = crop.params(width, height)
        assert 0 <= left <= width - w and 0 <= top <= height - h and w > 0 and h > 0
        areas.append(w * h / (width * height))
        ratios.append(w / h)
    assert min(areas) >= 0.06 and max(areas) <= 1.0 and 0.3 < float(np.mean(areas)) < 0.7
    assert min(ratios) >= 0.7 and max(ratios) <= 1.4
    box = (10, 5, 90, 85)
    ours = photo.resize((96, 96), Image.Resampling.BILINEAR, box=box)
    theirs = F.resized_crop(photo, box[1], box[0], 80, 80, [96, 96])
    assert np.abs(as_float(ours) - as_float(theirs)).mean() < 2.0
    assert crop(photo).size == (96, 96)


def test_fallback_is_torchvision_centre_crop():
    """An extreme strip never fits a 3/4-4/3 box of the drawn area: centre crop at the
    limiting ratio, as torchvision falls back to."""
    crop = RandomResizedCropBox(32, scale=(0.99, 1.0))
    left, top, w, h = crop.params(400, 10)
    assert (w, h) == (round(10 * 4 / 3), 10) and left == (400 - w) // 2 and top == 0


def test_train_and_valid_transforms_shapes_and_reference(photo):
    torch.manual_seed(0)
    train = build_train_transform(64)(photo)
    assert train.shape == (3, 64, 64) and train.dtype == torch.float32
    valid = build_valid_transform(72, 64)(photo)
    expected = T.Compose(
        [T.Resize(72), T.CenterCrop(64), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )(photo)
    assert torch.allclose(valid, expected, atol=1e-5)
    assert math.isfinite(float(train.abs().max()))


# ---- decoding no more than the crop needs (LazyImage) ----------------------------------


@pytest.fixture(scope="module")
def camera_photo(tmp_path_factory, photo) -> Path:
    """A camera-sized JPEG stand-in: the real photo upscaled 8x (q90), rotated in EXIF."""
    path = tmp_path_factory.mktemp("camera") / "big.jpg"
    big = photo.resize((photo.width * 8, photo.height * 8), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated by 90 degrees
    big.transpose(Image.Transpose.ROTATE_90).save(path, quality=90, exif=exif)
    return path


def test_lazy_image_knows_its_upright_size_and_decodes_in_full_by_default(camera_photo):
    from PIL import ImageOps

    from automl.engine.data.images import LazyImage

    full = ImageOps.exif_transpose(Image.open(camera_photo)).convert("RGB")  # the reference
    lazy = LazyImage(camera_photo)
    assert lazy.size == full.size
    assert np.array_equal(np.asarray(lazy.decode()), np.asarray(full))
    small = LazyImage(camera_photo).decode(min_size=(300, 200))
    assert small.size[0] >= 300 and small.size[1] >= 200
    assert small.size[0] < full.size[0] // 2  # decoded at 1/4 (or 1/8) scale, upright


def test_train_crop_from_a_reduced_decode_matches_the_full_decode(camera_photo):
    from automl.engine.data.images import LazyImage, load_image_rgb

    transform = build_train_transform(96)
    full = load_image_rgb(camera_photo)
    for seed in range(5):
        torch.manual_seed(seed)
        lazy = transform(LazyImage(camera_photo))
        torch.manual_seed(seed)
        eager = transform(full)
        assert lazy.shape == eager.shape == (3, 96, 96)
        # same box, same jitter; only the decoding scale differs (normalised units)
        assert float((lazy - eager).abs().mean()) < 0.1


def test_valid_transform_from_a_reduced_decode_matches_the_full_decode(camera_photo, photo):
    from automl.engine.data.images import LazyImage, load_image_rgb

    transform = build_valid_transform(72, 64)
    lazy = transform(LazyImage(camera_photo))
    eager = transform(load_image_rgb(camera_photo))
    assert lazy.shape == (3, 64, 64) and float((lazy - eager).abs().mean()) < 0.05


def test_small_images_decode_in_full_and_give_identical_tensors(tmp_path, photo):
    from automl.engine.data.images import LazyImage

    path = tmp_path / "small.jpg"
    photo.save(path, quality=95)
    transform = build_train_transform(64)
    torch.manual_seed(1)
    lazy = transform(LazyImage(path))
    torch.manual_seed(1)
    eager = transform(Image.open(path).convert("RGB"))
    assert torch.equal(lazy, eager)
