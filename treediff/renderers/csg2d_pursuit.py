"""Every CSG2D shape on the grid, scored at once against a per-pixel gain map.

A CSG2D shape has few parameters, each one hex digit, so there are only 16^3 circles and
2 x 16^4 distinct quads (a quad turned by 90 degrees is another quad with its sides swapped,
one turned by 180 is itself). Adding a shape to a render, or cutting it out, changes the
pixels inside it only, so how much it helps is a sum of a gain map over the shape, and
those sums come from summed-area tables (quads) and from distance histograms (circles)
for every shape in a few milliseconds. This is matching pursuit for CSG: fits of one
region's moments and outline (`csg2d_repair.fit_shapes`, still what sketch repairs use)
mislead where shapes overlap or the canvas clips them; the best-scoring shapes here are
the best for the residual as a whole.

The sums count a pixel as inside when its centre is, which the anti-aliased renderer
agrees with except along edges; search renders and scores the few best exactly.
"""

from __future__ import annotations

import functools
import math

import numpy as np

HEX = "0123456789ABCDEF"
DIGITS = np.arange(16, dtype=np.float64)


def add_gain(target: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Per pixel, how much closer to `target` the render gets when that pixel turns on."""
    return np.abs(target - image) - np.abs(1.0 - target)


def cut_gain(target: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Per pixel, how much closer to `target` the render gets when that pixel turns off."""
    return np.abs(target - image) - np.abs(target)


@functools.lru_cache(maxsize=4)
def _ring_index(size: int) -> np.ndarray:
    """For every (circle centre, pixel), a flat index centre * 17 + ring, where ring is
    floor(distance in digits) + 1: the pixel is inside every circle of a radius above
    its distance, so summing a gain map per ring and accumulating over rings gives every
    radius at once. Depends on the size only, so it is made once."""
    per_digit = size / 16.0
    centres = (np.arange(size) + 0.5) / per_digit  # pixel centres in digits
    dx = centres[None, None, None, :] - DIGITS[:, None, None, None]  # (x, 1, 1, px)
    dy = centres[None, None, :, None] - DIGITS[None, :, None, None]  # (1, y, py, 1)
    ring = np.minimum(np.floor(np.sqrt(dx * dx + dy * dy)).astype(np.int64) + 1, 16)  # (x, y, py, px)
    return (np.arange(256).reshape(16, 16, 1, 1) * 17 + ring).ravel()


def _circle_sums(gain: np.ndarray) -> np.ndarray:
    """(r, x, y) -> the gain summed over the circle (Circle r x y), shape (16, 16, 16)."""
    weights = np.broadcast_to(gain, (256,) + gain.shape).ravel()
    per_ring = np.bincount(_ring_index(gain.shape[0]), weights=weights, minlength=256 * 17).reshape(16, 16, 17)
    sums = np.cumsum(per_ring, axis=2)[:, :, :16]  # (x, y, r)
    return sums.transpose(2, 0, 1)


def _box_sums(table: np.ndarray, lo_a, hi_a, lo_b, hi_b) -> np.ndarray:
    """Sums of the array behind summed-area `table` over rows [lo_a, hi_a) x columns
    [lo_b, hi_b), clipped to the array (empty where a range is); the four range arrays
    broadcast against each other."""
    n_a, n_b = table.shape[0] - 1, table.shape[1] - 1
    lo_a, lo_b = np.clip(lo_a, 0, n_a), np.clip(lo_b, 0, n_b)
    hi_a, hi_b = np.maximum(np.clip(hi_a, 0, n_a), lo_a), np.maximum(np.clip(hi_b, 0, n_b), lo_b)
    return table[hi_a, hi_b] - table[lo_a, hi_b] - table[hi_a, lo_b] + table[lo_a, lo_b]


def _summed_area(grid: np.ndarray) -> np.ndarray:
    table = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1))
    table[1:, 1:] = grid.cumsum(0).cumsum(1)
    return table


def _square_quad_sums(gain: np.ndarray) -> np.ndarray:
    """(y, h, x, w) -> the gain summed over (Quad x y w h G), shape (16, 16, 16, 16)."""
    size = gain.shape[0]
    per_digit = size / 16.0
    centre = DIGITS[:, None] * per_digit  # pixels
    half = DIGITS[None, :] * per_digit / 2.0
    # pixel i (centre i + 0.5) is inside when centre - half < i + 0.5 < centre + half
    lo = np.floor(centre - half - 0.5).astype(np.int64) + 1
    hi = np.ceil(centre + half - 0.5).astype(np.int64)
    # rows (y, h) on the leading axes, columns (x, w) on the trailing ones
    return _box_sums(_summed_area(gain), lo[:, :, None, None], hi[:, :, None, None], lo, hi)


def _diagonal_quad_sums(gain: np.ndarray) -> np.ndarray:
    """(x, y, w, h) -> the gain summed over (Quad x y w h H), shape (16, 16, 16, 16).

    In coordinates turned by 45 degrees, a = i + j + 1 and b = j - i + size - 1 for the pixel
    in row j, column i (both whole numbers), the quad is a box again: |a - A| < w' and
    |b - B| < h' with A, B its centre's and w', h' its half sides' turned coordinates
    (scaled by sqrt 2)."""
    size = gain.shape[0]
    per_digit = size / 16.0
    j, i = np.mgrid[0:size, 0:size]
    turned = np.zeros((2 * size + 1, 2 * size))
    np.add.at(turned, (i + j + 1, j - i + size - 1), gain)
    table = _summed_area(turned)
    c = DIGITS * per_digit  # centre coordinate in pixels (x or y)
    a_centre = (c[:, None] + c[None, :])  # (x, y): (cx + cy), the a of the centre
    b_centre = (c[None, :] - c[:, None]) + size - 1  # (x, y): b of the centre
    half = DIGITS * per_digit / 2.0 * math.sqrt(2.0)  # half side, times sqrt 2 in turned units
    lo_a = np.floor(a_centre[:, :, None] - half).astype(np.int64) + 1  # (x, y, w)
    hi_a = np.ceil(a_centre[:, :, None] + half).astype(np.int64)
    lo_b = np.floor(b_centre[:, :, None] - half).astype(np.int64) + 1  # (x, y, h)
    hi_b = np.ceil(b_centre[:, :, None] + half).astype(np.int64)
    # pair each (x, y) centre's a-range (per w) with its own b-range (per h)
    return _box_sums(table, lo_a[..., None], hi_a[..., None], lo_b[:, :, None, :], hi_b[:, :, None, :])


def best_shapes(gain: np.ndarray, k: int) -> list[str]:
    """The `k` CSG2D shapes (program text) over which `gain` sums highest, best first;
    only shapes that gain at least half a pixel (sums of a gain map with nothing to gain
    come out of the summed-area tables as rounding noise around zero)."""
    circles = _circle_sums(gain)  # (r, x, y)
    square = _square_quad_sums(gain)  # (y, h, x, w)
    diagonal = _diagonal_quad_sums(gain)  # (x, y, w, h)
    found: list[tuple[float, str]] = []
    for r, x, y in zip(*np.unravel_index(np.argsort(circles, axis=None)[::-1][:k], circles.shape)):
        found.append((circles[r, x, y], f"(Circle {HEX[r]} {HEX[x]} {HEX[y]})"))
    for y, h, x, w in zip(*np.unravel_index(np.argsort(square, axis=None)[::-1][:k], square.shape)):
        found.append((square[y, h, x, w], f"(Quad {HEX[x]} {HEX[y]} {HEX[w]} {HEX[h]} G)"))
    for x, y, w, h in zip(*np.unravel_index(np.argsort(diagonal, axis=None)[::-1][:k], diagonal.shape)):
        found.append((diagonal[x, y, w, h], f"(Quad {HEX[x]} {HEX[y]} {HEX[w]} {HEX[h]} H)"))
    found.sort(key=lambda item: -item[0])
    return [text for value, text in found[:k] if value >= 0.5]
