"""Which way a drawing's pen runs, and how far a candidate's outline runs another way.

The outline scores (`sketch.outline_score`, `sketch.detail_outline_score`) measure how
near each point of a candidate's outline lies to the pen and back, never in which
direction the two run. A wobbly loop and a box around it, or a quad turned one of the
grammar's angle steps, can be equally near the pen everywhere while the outline crosses
the pen's direction at its corners or along its sides. `direction_mismatch` measures that
disagreement: for each outline point, the pen's direction at the nearest pen pixel, and for
each pen pixel, the outline's direction at the nearest outline point, after the same
whole-drawing turn, scale and shift the outline score registered.

Directions come from the structure tensor (the local average of the image gradient's outer
product): its main axis is the normal of the line through a pixel, and lines have no
heading, so only the angle modulo a half turn counts. The disagreement of two directions
is sin^2 of the angle between them: 0 along, 1 across.
"""

from __future__ import annotations

import math

import numpy as np

# In pixels of the 256 px centre line: the scale of the derivative, then the neighbourhood
# a direction is averaged over. A digit of the grid is 16 px there; 3 px keeps a box's
# corner sharp while smoothing a hand's tremor along a side.
DERIVATIVE_SIGMA = 1.5
NEIGHBOURHOOD_SIGMA = 3.0
# How far a pixel's direction reads the image: both filters' reach (scipy's Gaussian filters
# stop at 4 sigma), plus one for rounding.
REACH = math.ceil(4.0 * DERIVATIVE_SIGMA) + math.ceil(4.0 * NEIGHBOURHOOD_SIGMA) + 1


def line_directions(image: np.ndarray) -> np.ndarray:
    """Per pixel, the angle (radians, x to the right and y down) of the line through it,
    from the structure tensor of `image` (a pen mask or a filled render)."""
    from scipy.ndimage import gaussian_filter

    f = image.astype(np.float32)
    gx = gaussian_filter(f, DERIVATIVE_SIGMA, order=(0, 1))
    gy = gaussian_filter(f, DERIVATIVE_SIGMA, order=(1, 0))
    jxx = gaussian_filter(gx * gx, NEIGHBOURHOOD_SIGMA)
    jyy = gaussian_filter(gy * gy, NEIGHBOURHOOD_SIGMA)
    jxy = gaussian_filter(gx * gy, NEIGHBOURHOOD_SIGMA)
    normal = 0.5 * np.arctan2(2.0 * jxy, jxx - jyy)
    return normal + np.float32(math.pi / 2)


def directions_near(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`line_directions` of `image` at the pixels of `mask` (elsewhere 0), worked out only in
    the box around `mask` that they read: the same numbers, in about half the time for a
    candidate's outline."""
    ys, xs = np.nonzero(mask)
    y0, y1 = max(int(ys.min()) - REACH, 0), min(int(ys.max()) + REACH + 1, image.shape[0])
    x0, x1 = max(int(xs.min()) - REACH, 0), min(int(xs.max()) + REACH + 1, image.shape[1])
    out = np.zeros(image.shape, dtype=np.float32)
    out[y0:y1, x0:x1] = line_directions(image[y0:y1, x0:x1])
    return out


def nearest_pixels(mask: np.ndarray) -> np.ndarray:
    """Flat index of the nearest `mask` pixel, for every pixel (`mask` must not be empty)."""
    from scipy.ndimage import distance_transform_edt

    rows, cols = distance_transform_edt(~mask, return_distances=False, return_indices=True)
    return (rows * mask.shape[1] + cols).ravel()


def direction_mismatch(pen: np.ndarray, pen_directions: np.ndarray, nearest_pen: np.ndarray,
                       outline: np.ndarray, render: np.ndarray, transform) -> float:
    """Mean sin^2 of the angle between pen and outline, from the outline's side and from
    the pen's, averaged (0: they run together everywhere, 1: across everywhere).

    `pen` is the drawing's centre line, `pen_directions` its `line_directions`,
    `nearest_pen` its `nearest_pixels`; `outline` and `render` a candidate's outline and
    filled render at the same size; `transform` the `sketch_registration.Similarity` from
    the candidate's frame to the drawing's."""
    from .sketch_registration import _centred_points, _landing

    n = pen.shape[0]
    params = transform.as_params()
    turn = math.radians(transform.angle_deg)
    outline_at = np.flatnonzero(outline)
    pen_at = np.flatnonzero(pen)
    outline_directions = directions_near(render > 0.5, outline).ravel()
    # outline -> drawing: the pen's direction at the pen pixel nearest where each outline point lands
    landed = _landing(params, _centred_points(outline), n, forward=True)[0]
    along_outline = outline_directions[outline_at] + turn - pen_directions.ravel()[nearest_pen[landed]]
    # drawing -> outline: the outline's direction at the outline point nearest where each pen pixel lands back
    back = _landing(params, _centred_points(pen), n, forward=False)[0]
    along_pen = pen_directions.ravel()[pen_at] - turn - outline_directions[nearest_pixels(outline)[back]]
    return 0.5 * float(np.mean(np.sin(along_outline) ** 2) + np.mean(np.sin(along_pen) ** 2))
