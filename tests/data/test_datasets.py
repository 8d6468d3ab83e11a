import numpy as np
import pytest
import torch
from PIL import Image

from automl.engine.data.datasets import (
    ClassificationDataset,
    DetectionDataset,
    InstanceSegmentationDataset,
)
from automl.engine.data.images import load_image_rgb
from automl.engine.data.masks import polygon_area
from automl.engine.errors import DataError

from .conftest import box, write_image


def test_detection_boxes_are_normalised_times_size(tmp_path):
    image = write_image(tmp_path / "a.jpg", size=(64, 40))
    records = [
        {"image_url": str(image), "label": [box("dog", 0.25, 0.5, 0.75, 1.0, crowd=1), box("cat")]}
    ]
    dataset = DetectionDataset(records, ["cat", "dog"])
    tensor, target = dataset[0]
    assert tensor.shape == (3, 40, 64) and tensor.dtype == torch.float32
    expected = [[16.0, 20.0, 48.0, 40.0], [6.4, 8.0, 32.0, 32.0]]
    assert torch.allclose(target["boxes"], torch.tensor(expected))
    assert target["labels"].tolist() == [2, 1]  # 1-based: 0 is torchvision's background
    assert target["iscrowd"].tolist() == [1, 0]
    assert DetectionDataset(records, ["cat", "dog"], label_offset=0)[0][1]["labels"].tolist() == [
        1,
        0,
    ]


def test_empty_detection_target_and_joint_transform(tmp_path):
    image = write_image(tmp_path / "a.jpg")
    calls = []

    def joint(img, target):
        calls.append(img.size)
        return "image", target

    dataset = DetectionDataset([{"image_url": str(image), "label": []}], ["cat"], transforms=joint)
    result, target = dataset[0]
    assert result == "image" and calls == [(48, 32)]
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)


def test_segmentation_masks_match_polygon_area(tmp_path):
    image = write_image(tmp_path / "a.png", size=(64, 48))
    polygon = [0.1, 0.1, 0.8, 0.2, 0.6, 0.9, 0.2, 0.7]
    records = [
        {"image_url": str(image), "label": [{"label": "a", "isCrowd": False, "polygon": [polygon]}]}
    ]
    _, target = InstanceSegmentationDataset(records, ["a"])[0]
    assert target["masks"].shape == (1, 48, 64) and target["masks"].dtype == torch.uint8
    pixels = [v * (64 if i % 2 == 0 else 48) for i, v in enumerate(polygon)]
    assert target["masks"].sum().item() == pytest.approx(polygon_area(pixels), rel=0.1)
    assert target["boxes"].tolist() == [pytest.approx([6.4, 4.8, 51.2, 43.2])]


def test_classification_multi_hot(tmp_path):
    image = write_image(tmp_path / "a.jpg")
    dataset = ClassificationDataset(
        [{"image_url": str(image), "label": ["b", "c"]}], ["a", "b", "c"], multilabel=True
    )
    assert dataset[0][1].tolist() == [0.0, 1.0, 1.0]


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.new("RGB", (40, 20), (200, 10, 10)).save(path, exif=exif)
    assert load_image_rgb(path).size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "1"])
def test_image_modes_become_rgb(tmp_path, mode):
    image = Image.new("RGBA", (32, 32), (10, 120, 200, 128)).convert(mode)
    path = tmp_path / ("a.jpg" if mode == "CMYK" else "a.png")
    image.save(path)
    loaded = load_image_rgb(path)
    assert loaded.mode == "RGB" and loaded.size == (32, 32)


def test_16_bit_png_keeps_its_range(tmp_path):
    array = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(array).save(path)
    loaded = np.asarray(load_image_rgb(path))
    assert loaded.dtype == np.uint8 and loaded.min() == 0 and loaded.max() == 255


def _bomb(path):
    """A PNG header declaring 15000 x 15000 pixels (over Pillow's bomb limit), ~100 bytes."""
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 15000, 15000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("kind", ["classification", "detection"])
def test_an_image_that_fails_to_decode_is_a_data_error_naming_its_line(tmp_path, kind):
    bomb = _bomb(tmp_path / "bomb.png")
    cut = write_image(tmp_path / "cut.jpg")
    cut.write_bytes(cut.read_bytes()[:100])  # changed after the doctor checked it
    for path, detail in ((bomb, "DecompressionBombError"), (cut, "OSError")):
        record = {"image_url": str(path), "label": "a", "source": "train.jsonl:7"}
        if kind == "classification":
            dataset = ClassificationDataset([record], ["a"])
        else:
            dataset = DetectionDataset([{**record, "label": [box("a")]}], ["a"])
        with pytest.raises(DataError, match=f"train.jsonl:7: image .* \\({detail}"):
            dataset[0]
