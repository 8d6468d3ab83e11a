"""Tiling for small objects (docs/azure-compatibility.md §9), with Azure's tile geometry.

- `parse_tile_grid("3x2") -> (3, 2)`: W tiles along the width, H along the height.
- `tile_windows(width, height, grid, overlap)`: tile_width = w / (r + (1 - r) W), tiles start
  at 0, (1 - r) tile_width, ...; coordinates rounded to integers.
- `TiledDetectionDataset`: training data = every image plus each of its tiles that holds at
  least part of a box (boxes intersected with the tile, zero-area ones dropped).
- `predict_tiled(model, image, ...)`: the full image and all its tiles through the model,
  tile boxes moved back to image coordinates and merged by `merge_tile_predictions`, a
  greedy NMS where a box suppresses lower-scored boxes of the same label that come from a
  different tile (or tile vs full image) when IoU > tile_predictions_nms_threshold.
"""

from __future__ import annotations

import math
import re

import torch
from torch.utils.data import Dataset

from automl.engine.data.images import load_image_rgb
from automl.engine.errors import AutomlError

Window = tuple[int, int, int, int]
_GRID_PATTERN = re.compile(r"^\s*\(?\s*(\d+)\s*[xX,]\s*(\d+)\s*\)?\s*$")


def parse_tile_grid(text: str) -> tuple[int, int]:
    """'3x2' (also '3X2', '(3, 2)') -> (3, 2); raises AutomlError for anything else."""
    match = _GRID_PATTERN.match(str(text))
    grid = (int(match.group(1)), int(match.group(2))) if match else None
    if grid is None or min(grid) < 1 or grid == (1, 1):
        raise AutomlError(
            f"tile_grid_size={text!r} is not a tile grid",
            hint="write 'WxH' with two positive integers other than 1x1, e.g. '3x2'",
        )
    return grid


def tile_windows(width: int, height: int, grid: tuple[int, int], overlap: float) -> list[Window]:
    """Azure's tiles of a `width` x `height` image, row by row, as (x0, y0, x1, y1)."""
    n_x, n_y = grid
    tile_w = width / (overlap + (1 - overlap) * n_x)
    tile_h = height / (overlap + (1 - overlap) * n_y)
    windows = []
    for j in range(n_y):
        for i in range(n_x):
            x0, y0 = i * (1 - overlap) * tile_w, j * (1 - overlap) * tile_h
            windows.append(
                (
                    round(x0),
                    round(y0),
                    min(width, round(x0 + tile_w)),
                    min(height, round(y0 + tile_h)),
                )
            )
    return windows


def tile_target(target: dict, window: Window) -> dict:
    """Boxes intersected with `window` (floored pixels), relative to it; empty ones dropped."""
    x0, y0, x1, y1 = window
    boxes = target["boxes"]
    clipped = torch.stack(
        [
            boxes[:, 0].clamp(x0, x1),
            boxes[:, 1].clamp(y0, y1),
            boxes[:, 2].clamp(x0, x1),
            boxes[:, 3].clamp(y0, y1),
        ],
        dim=1,
    ).floor()
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    moved = clipped[keep] - torch.tensor([x0, y0, x0, y0], dtype=clipped.dtype)
    tiled = {key: value[keep] for key, value in target.items() if _per_object(value, boxes)}
    tiled.update(
        boxes=moved,
        area=(moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1]),
        image_id=target["image_id"],
        orig_size=torch.tensor([y1 - y0, x1 - x0], dtype=torch.int64),
    )
    return tiled


def _per_object(value, boxes: torch.Tensor) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() >= 1 and len(value) == len(boxes)


class TiledDetectionDataset(Dataset):
    """Each image of `base` plus its tiles that hold annotations (docs/azure-compatibility.md §9
    training).

    `base` is a DetectionDataset without transforms; `transforms(image, target)` runs on
    the full image and on each tile alike.
    """

    def __init__(self, base, grid: tuple[int, int], overlap: float, transforms=None) -> None:
        self.base = base
        self.transforms = transforms
        self.items: list[tuple[int, Window | None]] = []
        for i in range(len(base)):
            self.items.append((i, None))
            self.items += [(i, w) for w in self._annotated_tiles(i, grid, overlap)]

    def _annotated_tiles(self, i: int, grid, overlap) -> list[Window]:
        width, height = record_size(self.base.records[i])
        target = self.base.target(i, width, height)
        windows = tile_windows(width, height, grid, overlap)
        return [w for w in windows if len(tile_target(target, w)["boxes"])]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        i, window = self.items[index]
        image = load_image_rgb(self.base.records[i]["image_url"])
        target = self.base.target(i, *image.size)
        if window is not None:
            image = image.crop(window)
            target = tile_target(target, window)
        if self.transforms is not None:
            return self.transforms(image, target)
        from automl.engine.tasks.detection import image_to_tensor

        return image_to_tensor(image), target


def record_size(record: dict) -> tuple[int, int]:
    """(width, height) from image_details, else from the image header."""
    details = record.get("image_details") or {}
    if isinstance(details.get("width"), int) and isinstance(details.get("height"), int):
        return details["width"], details["height"]
    from PIL import Image, ImageOps

    with Image.open(record["image_url"]) as image:
        return ImageOps.exif_transpose(image).size


def merge_tile_predictions(parts: list[dict], sources: list[int], nms_threshold: float) -> dict:
    """Concatenate per-source predictions (image coordinates) and run the cross-tile NMS.

    `parts[k]` has boxes [n, 4], scores [n], labels [n] (and optionally masks) from source
    `sources[k]` (0 = full image, 1.. = tiles).
    """
    from torchvision.ops import box_iou

    merged = {key: torch.cat([p[key] for p in parts]) for key in ("boxes", "scores", "labels")}
    origin = torch.cat(
        [
            torch.full((len(p["scores"]),), s, dtype=torch.int64)
            for p, s in zip(parts, sources, strict=True)
        ]
    )
    order = torch.argsort(merged["scores"], descending=True)
    merged = {key: value[order] for key, value in merged.items()}
    origin = origin[order]
    iou = box_iou(merged["boxes"], merged["boxes"])
    keep = torch.ones(len(origin), dtype=torch.bool)
    for i in range(len(origin)):
        if not keep[i]:
            continue
        later = torch.arange(len(origin)) > i
        suppress = (
            later
            & (merged["labels"] == merged["labels"][i])
            & (origin != origin[i])
            & (iou[i] > nms_threshold)
        )
        keep &= ~suppress
    return {key: value[keep] for key, value in merged.items()}


@torch.inference_mode()
def predict_tiled(
    model, image: torch.Tensor, grid: tuple[int, int], overlap: float, nms_threshold: float
) -> dict:
    """Detections of one [0, 1] CHW image from the full image plus its tiles, merged."""
    height, width = image.shape[-2:]
    windows = tile_windows(width, height, grid, overlap)
    crops = [image] + [image[:, y0:y1, x0:x1] for x0, y0, x1, y1 in windows]
    outputs = model(crops)
    parts = [outputs[0]]
    for (x0, y0, _, _), output in zip(windows, outputs[1:], strict=True):
        shift = torch.tensor([x0, y0, x0, y0], dtype=output["boxes"].dtype)
        parts.append({**output, "boxes": output["boxes"] + shift.to(output["boxes"].device)})
    parts = [{k: p[k].cpu() for k in ("boxes", "scores", "labels")} for p in parts]
    return merge_tile_predictions(parts, list(range(len(parts))), nms_threshold)


def tiles_cost_factor(grid: tuple[int, int]) -> int:
    """How many model passes one image costs with tiling (1 + W * H)."""
    return 1 + math.prod(grid)
