"""Masks and polygons with numpy and Pillow only (no pycocotools, no OpenCV).

- `rle_decode`: COCO run-length encoding (compressed string or uncompressed counts).
- `mask_to_polygons`: outer boundaries of a binary mask as polygons. Boundaries follow
  pixel edges ("crack following"), so a polygon's area equals its pixel count exactly;
  holes are dropped (Azure polygons have no holes). Long outlines are simplified with
  Douglas-Peucker, as Azure's converter does, to at most ~100 points.
- `polygons_to_mask`: rasterise polygons with PIL ImageDraw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

MAX_POLYGON_POINTS = 100


def rle_decode(counts: str | bytes | Sequence[int], height: int, width: int) -> np.ndarray:
    """Decode a COCO RLE into a uint8 mask of shape (height, width)."""
    if isinstance(counts, (str, bytes)):
        counts = rle_string_to_counts(counts)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError(f"RLE counts sum to {counts.sum()}, expected {height}x{width}")
    values = np.arange(len(counts)) % 2  # runs alternate 0, 1, 0, ... starting with 0
    flat = np.repeat(values.astype(np.uint8), counts)
    return flat.reshape(width, height).T.copy()  # COCO runs go down columns (Fortran order)


def rle_string_to_counts(text: str | bytes) -> list[int]:
    """COCO's compressed RLE string (pycocotools rleFrString) -> run lengths."""
    data = text.encode("ascii") if isinstance(text, str) else text
    counts: list[int] = []
    p = 0
    while p < len(data):
        value, shift, more = 0, 0, True
        while more:
            c = data[p] - 48
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            p += 1
            shift += 1
            if not more and c & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def rle_encode(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a binary mask (for tests and round trips)."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    return ([0] + counts) if flat.size and flat[0] else counts


def mask_to_polygons(mask: np.ndarray, max_points: int = MAX_POLYGON_POINTS) -> list[list[float]]:
    """Outer boundaries of the mask's regions as flat [x1, y1, ...] lists in pixels."""
    loops = _trace_loops(_boundary_edges(np.asarray(mask, dtype=bool)))
    polygons = []
    for loop in loops:
        points = _drop_collinear(loop)
        if len(points) < 3 or polygon_area_points(points) <= 0:
            continue  # a hole (clockwise) or a degenerate sliver
        points = _simplify(points, max_points)
        polygons.append([float(v) for point in points for v in point])
    return polygons


def _boundary_edges(mask: np.ndarray) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Directed pixel edges between foreground and background, start -> [ends]."""
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1]
    sides = {  # background neighbour side -> edge (start, end) in pixel-corner units
        "top": (~padded[:-2, 1:-1] & inner, (0, 0), (1, 0)),
        "right": (~padded[1:-1, 2:] & inner, (1, 0), (1, 1)),
        "bottom": (~padded[2:, 1:-1] & inner, (1, 1), (0, 1)),
        "left": (~padded[1:-1, :-2] & inner, (0, 1), (0, 0)),
    }
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for selected, (sx, sy), (ex, ey) in sides.values():
        rows, cols = np.nonzero(selected)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            edges.setdefault((c + sx, r + sy), []).append((c + ex, r + ey))
    return edges


def _trace_loops(edges: dict[tuple[int, int], list[tuple[int, int]]]) -> list[list[tuple]]:
    loops = []
    for start in sorted(edges):
        while edges.get(start):
            loop, point = [start], edges[start].pop()
            while point != start:
                loop.append(point)
                point = edges[point].pop()
            loops.append(loop)
    return loops


def _drop_collinear(points: list[tuple]) -> list[tuple]:
    kept = []
    n = len(points)
    for i, (x, y) in enumerate(points):
        (px, py), (nx, ny) = points[i - 1], points[(i + 1) % n]
        if (x - px) * (ny - y) != (y - py) * (nx - x):
            kept.append((x, y))
    return kept


def _simplify(points: list[tuple], max_points: int) -> list[tuple]:
    tolerance = 0.5
    simplified = points
    for _ in range(25):
        if len(simplified) <= max_points:
            break
        simplified = _douglas_peucker_closed(points, tolerance)
        tolerance *= 1.5
    return simplified if len(simplified) >= 3 else points


def _douglas_peucker_closed(points: list[tuple], tolerance: float) -> list[tuple]:
    array = np.asarray(points, dtype=np.float64)
    far = int(np.argmax(((array - array[0]) ** 2).sum(axis=1)))  # split the ring in two
    first = _douglas_peucker(array[: far + 1], tolerance)
    second = _douglas_peucker(np.vstack([array[far:], array[:1]]), tolerance)
    return [tuple(p) for p in np.vstack([first[:-1], second[:-1]]).tolist()]


def _douglas_peucker(array: np.ndarray, tolerance: float) -> np.ndarray:
    if len(array) < 3:
        return array
    start, end = array[0], array[-1]
    direction = end - start
    norm = np.hypot(*direction)
    offsets = array - start
    if norm == 0:
        distances = np.hypot(offsets[:, 0], offsets[:, 1])
    else:
        distances = np.abs(direction[0] * offsets[:, 1] - direction[1] * offsets[:, 0]) / norm
    index = int(np.argmax(distances))
    if distances[index] <= tolerance:
        return np.vstack([start, end])
    left = _douglas_peucker(array[: index + 1], tolerance)
    right = _douglas_peucker(array[index:], tolerance)
    return np.vstack([left[:-1], right])


def polygon_area_points(points: Sequence[tuple]) -> float:
    """Signed shoelace area (positive for the outer boundaries `mask_to_polygons` gives)."""
    array = np.asarray(points, dtype=np.float64)
    x, y = array[:, 0], array[:, 1]
    return float(0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def polygon_area(flat: Sequence[float]) -> float:
    """Absolute area of one flat [x1, y1, x2, y2, ...] polygon."""
    points = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    return abs(polygon_area_points(points))


def polygons_to_mask(polygons: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """Rasterise flat pixel-coordinate polygons (one instance) into a uint8 (H, W) mask."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for flat in polygons:
        if len(flat) >= 6:
            draw.polygon([(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)], fill=1)
    return np.asarray(canvas, dtype=np.uint8)
