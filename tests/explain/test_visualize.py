"""Azure's 2x2 explanation grid and its blue-green-yellow-white heat map."""

from __future__ import annotations

import numpy as np

from automl.engine.explain import render_grid
from automl.engine.explain._visualize import (
    bgyw_colors,
    scale_positive,
    top_fraction_mask,
)

SIZE = 20


def gradient_attributions() -> np.ndarray:
    """Attributions rising from left (negative) to right (most positive)."""
    row = np.linspace(-1.0, 1.0, SIZE, dtype=np.float32)
    return np.broadcast_to(row, (3, SIZE, SIZE)).copy()


def test_heat_map_runs_from_blue_to_white():
    colors = bgyw_colors(np.array([[0.0, 1.0 / 3, 2.0 / 3, 1.0]]))[0]
    assert colors[0].tolist() == [0, 0, 255]  # blue: no positive evidence
    assert colors[1][1] > colors[1][0] and colors[1][1] > colors[1][2]  # green
    assert colors[2].tolist() == [255, 255, 0]  # yellow
    assert colors[3].tolist() == [255, 255, 255]  # white: most positive


def test_scaling_saturates_the_top_two_percent_of_mass_and_drops_negatives():
    values = np.concatenate([np.arange(1.0, 101.0), [-5.0]])
    scaled = scale_positive(values)
    # 1 + ... + 99 = 4950 is 98 % of 5050: the level is 99, so 99 and 100 saturate.
    assert scaled[98] == scaled[99] == 1.0
    assert scaled[97] == np.float64(98.0 / 99.0)
    assert scaled[-1] == 0.0  # negative evidence is not shown
    assert scale_positive(np.zeros(10)).max() == 0.0


def test_top_fraction_mask_keeps_thirty_percent():
    values = np.arange(100, dtype=float).reshape(10, 10)
    mask = top_fraction_mask(values)
    assert mask.sum() == 30 and mask[-3:].all() and not mask[:7].any()


def test_grid_cells_are_input_heat_map_blend_and_top_pixels():
    image = np.full((SIZE, SIZE, 3), 100, dtype=np.uint8)
    grid = np.asarray(render_grid(image, gradient_attributions()))
    assert grid.shape == (2 * SIZE, 2 * SIZE, 3)
    top_left, heat = grid[:SIZE, :SIZE], grid[:SIZE, SIZE:]
    blend, masked = grid[SIZE:, :SIZE], grid[SIZE:, SIZE:]
    assert np.array_equal(top_left, image)
    assert heat[0, -1].tolist() == [255, 255, 255] and heat[0, 0].tolist() == [0, 0, 255]
    expected_blend = np.round(0.5 * heat.astype(float) + 0.5 * image).astype(np.uint8)
    assert np.array_equal(blend, expected_blend)
    kept = masked.any(axis=2)
    assert kept[:, -6:].all() and not kept[:, :-6].any()  # the 6 most positive columns of 20
