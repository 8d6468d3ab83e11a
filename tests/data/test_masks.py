import json

import numpy as np
import pytest

from automl.engine.data.masks import (
    mask_to_polygons,
    polygon_area,
    polygons_to_mask,
    rle_decode,
    rle_encode,
    rle_string_to_counts,
)

from .conftest import shared


def _compress(counts):
    """pycocotools' rleToString, to test our decoder of the compressed form."""
    out = []
    for i, value in enumerate(counts):
        x = value - counts[i - 2] if i > 2 else value
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = not ((c & 0x10) == 0 and x == 0 or (c & 0x10) and x == -1)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _shapes():
    mask = np.zeros((40, 50), np.uint8)
    mask[5:20, 10:30] = 1  # a rectangle
    mask[25:35, 5:15] = 1  # a second region
    yy, xx = np.mgrid[:40, :50]
    mask |= ((yy - 28) ** 2 + (xx - 38) ** 2 < 36).astype(np.uint8)  # a disc
    return mask


def test_rle_round_trip_uncompressed_and_compressed():
    mask = _shapes()
    counts = rle_encode(mask)
    assert np.array_equal(rle_decode(counts, 40, 50), mask)
    assert rle_string_to_counts(_compress(counts)) == counts
    assert np.array_equal(rle_decode(_compress(counts), 40, 50), mask)


def test_polygons_have_exactly_the_mask_area_and_rasterise_back():
    mask = _shapes()
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 3
    assert sum(polygon_area(p) for p in polygons) == mask.sum()
    back = polygons_to_mask(polygons, 50, 40)
    iou = (back & mask).sum() / (back | mask).sum()
    assert iou > 0.8


def test_holes_are_dropped_and_long_outlines_simplified():
    ring = np.zeros((30, 30), np.uint8)
    ring[5:25, 5:25] = 1
    ring[10:20, 10:20] = 0
    (outer,) = mask_to_polygons(ring)
    assert polygon_area(outer) == 400
    yy, xx = np.mgrid[:300, :300]
    disc = ((yy - 150) ** 2 + (xx - 150) ** 2 < 140**2).astype(np.uint8)
    (polygon,) = mask_to_polygons(disc, max_points=100)
    assert len(polygon) // 2 <= 100
    assert polygon_area(polygon) == pytest.approx(disc.sum(), rel=0.01)


def test_real_coco_crowd_rle_decodes_to_its_polygons():
    document = json.loads(shared("coco128", "annotations", "instances_coco128.json").read_text())
    crowd = [a for a in document["annotations"] if a["iscrowd"]]
    assert len(crowd) == 10
    for annotation in crowd[:3]:
        height, width = annotation["segmentation"]["size"]
        mask = rle_decode(annotation["segmentation"]["counts"], height, width)
        x, y, w, h = annotation["bbox"]
        rows, cols = np.nonzero(mask)
        assert abs(cols.min() - x) <= 1 and abs(rows.max() + 1 - (y + h)) <= 1
        area = sum(polygon_area(p) for p in mask_to_polygons(mask))
        assert area == pytest.approx(mask.sum(), rel=0.05)
