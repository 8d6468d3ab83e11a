"""Detection preprocessing and tiling: augmentations keep boxes, Azure's tile geometry, the
cross-tile NMS, and tiling raising recall for small objects at the same model."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from automl.engine.errors import AutomlError
from automl.engine.metrics.detection import DetectionEvaluator
from automl.engine.tasks.detection import (
    DetectionTrainTransform,
    crop_window,
    horizontal_flip,
    random_expand,
)
from automl.engine.tasks.tiling import (
    merge_tile_predictions,
    parse_tile_grid,
    predict_tiled,
    tile_target,
    tile_windows,
)


def test_tile_geometry_follows_azure():
    # w=1000, r=0.25, W=3: tile_width = 1000 / (0.25 + 0.75 * 3) = 400; starts 0, 300, 600
    windows = tile_windows(1000, 500, (3, 2), 0.25)
    assert len(windows) == 6
    assert [w[0] for w in windows[:3]] == [0, 300, 600]
    assert windows[2][2] == 1000  # the last tile ends at the border
    # h=500, H=2: tile_height = 500 / (0.25 + 1.5) = 285.71; second row starts at 214
    assert windows[3][1] == 214 and windows[3][3] == 500
    assert parse_tile_grid("3X2") == parse_tile_grid("(3, 2)") == (3, 2)
    for bad in ("1x1", "3", "0x2", "ax2"):
        with pytest.raises(AutomlError, match="tile_grid_size"):
            parse_tile_grid(bad)


def test_tile_target_clips_and_drops_boxes():
    target = {
        "boxes": torch.tensor([[10.0, 10.0, 60.0, 30.0], [300.0, 300.0, 320.0, 320.0]]),
        "labels": torch.tensor([1, 2]),
        "iscrowd": torch.tensor([0, 0]),
        "area": torch.tensor([1000.0, 400.0]),
        "image_id": torch.tensor(0),
        "orig_size": torch.tensor([400, 400]),
    }
    tiled = tile_target(target, (40, 0, 200, 100))
    assert tiled["boxes"].tolist() == [[0.0, 10.0, 20.0, 30.0]]  # truncated, relative
    assert tiled["labels"].tolist() == [1]
    assert tiled["orig_size"].tolist() == [100, 160]


def test_cross_tile_nms_suppresses_other_sources_only():
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    parts = [
        {"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([1])},
        {"boxes": box + 1, "scores": torch.tensor([0.8]), "labels": torch.tensor([1])},
        {"boxes": box + 1, "scores": torch.tensor([0.7]), "labels": torch.tensor([2])},
        {
            "boxes": torch.cat([box, box + 1]),
            "scores": torch.tensor([0.6, 0.5]),
            "labels": torch.tensor([1, 1]),
        },
    ]
    merged = merge_tile_predictions(parts, [0, 1, 2, 0], nms_threshold=0.25)
    # the 0.8 box (tile 1, same label) goes; the other label stays; boxes of the same
    # source never suppress each other (the model's own NMS already ran on them)
    assert merged["scores"].tolist() == pytest.approx([0.9, 0.7, 0.6, 0.5])


def test_augmentations_keep_every_box_inside_the_image():
    random.seed(3)
    boxes = torch.tensor([[20.0, 30.0, 60.0, 70.0], [5.0, 5.0, 15.0, 25.0]])
    for _ in range(30):
        window = crop_window(100, 80, boxes)
        assert window is not None
        x0, y0, x1, y1 = window
        assert x0 <= 5 and y0 <= 5 and x1 >= 60 and y1 >= 70
        assert (x1 - x0) * (y1 - y0) >= 0.6 * 100 * 80
    image = torch.rand(3, 80, 100)
    mask = torch.zeros(2, 80, 100, dtype=torch.uint8)
    mask[0, 30:70, 20:60] = 1
    target = {"boxes": boxes, "labels": torch.tensor([1, 1]), "masks": mask}
    flipped, flipped_target = horizontal_flip(image, target)
    assert flipped_target["boxes"][0].tolist() == [40.0, 30.0, 80.0, 70.0]
    assert flipped_target["masks"][0, 30:70, 40:80].all()
    expanded, expanded_target = random_expand(image, target)
    shift = expanded_target["boxes"][0] - boxes[0]
    assert shift[0] == shift[2] and shift[1] == shift[3]
    assert expanded_target["masks"].shape[-2:] == expanded.shape[-2:]
    transform = DetectionTrainTransform()
    for _ in range(20):
        out, out_target = transform(to_pil(image), target)
        b = out_target["boxes"]
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= out.shape[-1]).all()
        assert (b[:, 1] >= 0).all() and (b[:, 3] <= out.shape[-2]).all()
        assert out_target["masks"].shape[-2:] == out.shape[-2:]


def to_pil(tensor):
    from torchvision.transforms.functional import to_pil_image

    return to_pil_image(tensor)


class BlobDetector(nn.Module):
    """A fixed "model" with a resolution limit, like a detector resizing to min_size: it
    sees each input at `input_size` px on the long side and finds bright squares only
    when they cover at least `min_pixels` there."""

    def __init__(self, input_size: int = 96, min_pixels: int = 3) -> None:
        super().__init__()
        self.input_size, self.min_pixels = input_size, min_pixels

    def forward(self, images):
        return [self.detect(image) for image in images]

    def detect(self, image: torch.Tensor) -> dict:
        from scipy import ndimage

        height, width = image.shape[-2:]
        scale = self.input_size / max(height, width)
        small = nn.functional.interpolate(
            image[None], scale_factor=scale, mode="area", recompute_scale_factor=False
        )[0]
        blobs, n = ndimage.label((small.mean(0) > 0.5).numpy())
        boxes = []
        for found in ndimage.find_objects(blobs)[:n]:
            ys, xs = found
            if (ys.stop - ys.start) >= self.min_pixels and (xs.stop - xs.start) >= self.min_pixels:
                boxes.append([xs.start / scale, ys.start / scale, xs.stop / scale, ys.stop / scale])
        boxes_t = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        return {
            "boxes": boxes_t,
            "scores": torch.full((len(boxes_t),), 0.9),
            "labels": torch.ones(len(boxes_t), dtype=torch.int64),
        }


def small_objects_image(rng, size=600, n_objects=12, object_size=12):
    image = torch.zeros(3, size, size)
    boxes = []
    for _ in range(n_objects):
        x, y = rng.integers(0, size - object_size, 2)
        image[:, y : y + object_size, x : x + object_size] = 1.0
        boxes.append([x, y, x + object_size, y + object_size])
    return image, {
        "boxes": np.array(boxes, dtype=np.float64),
        "labels": np.ones(n_objects, dtype=np.int64),
        "iscrowd": np.zeros(n_objects, dtype=bool),
    }


def test_tiling_raises_recall_on_small_objects_at_the_same_model():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(0)
    model = BlobDetector()
    plain, tiled = DetectionEvaluator(["dot"]), DetectionEvaluator(["dot"])
    for _ in range(3):
        image, target = small_objects_image(rng)
        plain.add(model([image])[0], target)
        tiled.add(predict_tiled(model, image, (3, 3), 0.25, 0.25), target)
    recall_plain = plain.compute().values["recall"]
    recall_tiled = tiled.compute().values["recall"]
    assert recall_plain < 0.2  # 12 px objects are under 2 px at the model's resolution
    assert recall_tiled > 0.8  # in 3x3 tiles they are about 6 px


def test_tiled_training_data_holds_images_plus_annotated_tiles(tmp_path):
    from PIL import Image

    from automl.engine.data.datasets import DetectionDataset
    from automl.engine.tasks.tiling import TiledDetectionDataset

    path = tmp_path / "a.png"
    Image.new("RGB", (200, 100)).save(path)
    # one box in the left half only: of the 2x1 tiles, only the left one is kept
    records = [
        {
            "image_url": str(path),
            "image_details": {"width": 200, "height": 100},
            "label": [
                {
                    "label": "a",
                    "topX": 0.05,
                    "topY": 0.1,
                    "bottomX": 0.2,
                    "bottomY": 0.5,
                    "isCrowd": False,
                }
            ],
        }
    ]
    dataset = TiledDetectionDataset(DetectionDataset(records, ["a"]), (2, 1), 0.25)
    assert len(dataset) == 2
    image, target = dataset[1]
    assert tuple(image.shape[-2:]) == (100, 114)  # tile width 200 / (0.25 + 0.75 * 2)
    assert target["boxes"].tolist() == [[10.0, 10.0, 40.0, 50.0]]
