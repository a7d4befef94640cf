"""Registration of a hand drawing to a candidate program: the whole-drawing turn, scale and shift.

A person sketching a picture does not hold it to the canvas grid: the whole drawing comes
out a few degrees turned, a few percent larger or smaller and shifted by a pixel or three
(the simulator's `SketchStyle` draws the same). Compared as they lie, the true program can
then lose to a program whose shapes sit one grid digit off, nearer the drawn strokes. On
the held-out sketch benchmark the plain outline distance preferred the program search
found over the true one in 30 of 43 failures; after registration the true one wins in 34
(docs/sketches.md).

So the sketch goal measures the outline distance after the similarity transform T
(program frame -> drawing frame) that brings a candidate's outline closest to the strokes,
plus a small cost for the size of T, so that among programs that fit equally well the one
needing the smaller correction wins. T is found by a coarse-to-fine grid search over
angle, scale and shift inside the MAX_* range; both chamfer directions are read from
distance maps at transformed points. The coarse grid is the same for every candidate, so
where each pixel lands under each of its transforms is worked out once per image size
(`_coarse_tables`), and the drawing's side of it once per drawing (`_drawing_side`): a
candidate's first round is then two gathers per transform. That made registration 2.6
times and a whole sketch search about 2 times faster, with the same results bit for bit
(benchmarks/registration_speed.py).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

# Largest correction searched: the held-out simulator style reaches 8 degrees, 7 % and
# 4 % of the side, and a photographed sheet adds up to 3 degrees more.
MAX_ANGLE_DEG = 11.0
MAX_SCALE_CHANGE = 0.08
MAX_SHIFT = 0.05  # fraction of the image side
# Distance (canvas units) charged for a correction at the edge of the range, linearly in
# each of angle, scale and shift. Ties between grid neighbours go to the smaller
# correction; in a first trial 0.05 and 0.15 chose the same programs.
CORRECTION_COST = 0.1
# While the transform is searched, each point's distance counts at most this much (a
# fraction of the side, 3 px at 64): a part the program lacks or has in excess would
# otherwise pull the whole drawing towards it, and the repairs, which read the drawing in
# the registered frame, would miss that part.
ROBUST_CAP = 3.0 / 64
# Coarse grid (points per axis), then two rounds of 3 per axis at half, then quarter, steps.
COARSE = (5, 5, 5)  # angle, scale, shift (per axis of the shift)
REFINE_ROUNDS = 2
CANVAS_UNITS = 32.0  # distances are reported in canvas units, as `sketch.outline_distance`


@dataclass(frozen=True)
class Similarity:
    """program frame -> drawing frame: p' = scale * R(angle) (p - c) + c + (dx, dy), in pixels."""

    angle_deg: float = 0.0
    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def as_params(self) -> np.ndarray:
        """One row (angle, scale, dx, dy), as the landing and chamfer helpers take transforms."""
        return np.array([[self.angle_deg, self.scale, self.dx, self.dy]])

    def as_dict(self) -> dict:
        return {"angle_deg": round(self.angle_deg, 2), "scale": round(self.scale, 4),
                "dx": round(self.dx, 2), "dy": round(self.dy, 2)}


IDENTITY = Similarity()


def correction(params: np.ndarray, side: int) -> np.ndarray:
    """Size of each transform row (angle, scale, dx, dy) against the searched range: 0 is
    the identity, 1 the edge of the range in one of angle, scale or shift."""
    params = np.atleast_2d(params)
    return (np.abs(params[:, 0]) / MAX_ANGLE_DEG + np.abs(params[:, 1] - 1.0) / MAX_SCALE_CHANGE
            + np.hypot(params[:, 2], params[:, 3]) / (MAX_SHIFT * side))


def _grid(centre: np.ndarray, step: np.ndarray, points: tuple[int, int, int]) -> np.ndarray:
    """Rows (angle, scale, dx, dy) on a grid around `centre`, `points` per axis (dx and dy share one)."""
    axes = []
    for value, delta, n in zip(centre, step, (points[0], points[1], points[2], points[2])):
        half = (n - 1) / 2
        axes.append(value + delta * (np.arange(n) - half))
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 4)


def _landing(params: np.ndarray, points: np.ndarray, n: int, forward: bool) -> np.ndarray:
    """Flat pixel index (rows of `params` x points) where each point lands: forward, from
    the program frame into the drawing; otherwise back from the drawing into the program
    frame. Points are pixel centres relative to the image centre; off-image points take
    the nearest edge pixel."""
    c = n / 2.0
    theta = np.radians(params[:, 0:1])
    s, dx, dy = params[:, 1:2], params[:, 2:3], params[:, 3:4]
    cos, sin = np.cos(theta), np.sin(theta)
    px, py = points[:, 0], points[:, 1]
    if forward:
        x = s * (cos * px - sin * py) + dx + c
        y = s * (sin * px + cos * py) + dy + c
    else:
        qx, qy = px - dx, py - dy
        x = (cos * qx + sin * qy) / s + c
        y = (-sin * qx + cos * qy) / s + c
    # intp (not int32): numpy gathers with its own index type without converting first
    return np.clip(y.astype(np.intp), 0, n - 1) * n + np.clip(x.astype(np.intp), 0, n - 1)


def _rms_chamfer(d_out: np.ndarray, d_in: np.ndarray, cap: float) -> np.ndarray:
    """Per row: the mean of the two directions' root-mean-square distances, each capped at `cap`."""
    d_out, d_in = np.minimum(d_out, cap), np.minimum(d_in, cap)
    return 0.5 * (np.sqrt(np.mean(np.square(d_out), axis=1)) + np.sqrt(np.mean(np.square(d_in), axis=1)))


def _chamfer(params: np.ndarray, outline_pts: np.ndarray, stroke_pts: np.ndarray, to_strokes: np.ndarray,
             to_outline: np.ndarray, cap: float = math.inf) -> np.ndarray:
    """Symmetric RMS chamfer distance (pixels) for each row of `params` (angle, scale, dx, dy),
    each point's distance capped at `cap`.

    Points are pixel centres relative to the image centre. Outline points go forward into
    the drawing; stroke points go back into the program frame.
    """
    n = to_strokes.shape[0]
    d_out = to_strokes.ravel()[_landing(params, outline_pts, n, forward=True)]
    d_in = to_outline.ravel()[_landing(params, stroke_pts, n, forward=False)]
    return _rms_chamfer(d_out, d_in, cap)


IDENTITY_PARAMS = (0.0, 1.0, 0.0, 0.0)  # (angle, scale, dx, dy): the centre of the searched range


def _reach(n: int) -> np.ndarray:
    """Half the searched range of (angle, scale, dx, dy) at image size `n`."""
    return np.array([MAX_ANGLE_DEG, MAX_SCALE_CHANGE, MAX_SHIFT * n, MAX_SHIFT * n])


def _coarse_step(n: int) -> np.ndarray:
    return 2 * _reach(n) / (np.array([COARSE[0], COARSE[1], COARSE[2], COARSE[2]]) - 1)


def _coarse_grid(n: int) -> np.ndarray:
    """The first round's transforms at image size `n`, the identity last: the same for every candidate."""
    identity = np.array(IDENTITY_PARAMS)
    grid = np.clip(_grid(identity, _coarse_step(n), COARSE), identity - _reach(n), identity + _reach(n))
    return np.vstack([grid, identity])


# Sizes up to this many pixels get landing tables for every pixel (two int32 tables of
# coarse transforms x pixels, 10 MB each at 64 px, and a float32 one of the same size per
# cached drawing); larger images, the 256 px centre line of `sketch.detail_outline_score`,
# are registered a few dozen times a search and compute their landings directly.
TABLE_MAX_PIXELS = 64 * 64


@functools.lru_cache(maxsize=2)
def _coarse_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(forward, back): for each coarse transform, where every pixel of an n x n image lands
    (`_landing`), pixels in row-major order, the order `np.nonzero` lists a mask's."""
    every_pixel = _centred_points(np.ones((n, n), dtype=bool))
    grid = _coarse_grid(n)
    return (_landing(grid, every_pixel, n, forward=True).astype(np.int32),
            _landing(grid, every_pixel, n, forward=False).astype(np.int32))


# Per drawing (keyed by its stroke mask): the distance from each pixel's forward landing
# under each coarse transform to the strokes, and where the strokes land back. A search
# scores hundreds of candidates against one drawing; its repairs register a few more.
_DRAWING_SIDE: dict = {}
_DRAWING_SIDE_SIZE = 4


def _drawing_side(strokes: np.ndarray, to_strokes: np.ndarray, key) -> tuple[np.ndarray, np.ndarray]:
    hit = _DRAWING_SIDE.get(key)
    if hit is None:
        forward, back = _coarse_tables(strokes.shape[0])
        # pixels x transforms, so a candidate's outline pixels are whole rows to gather
        hit = (np.ascontiguousarray(to_strokes.ravel()[forward].T), back[:, np.flatnonzero(strokes)].astype(np.intp))
        if len(_DRAWING_SIDE) >= _DRAWING_SIDE_SIZE:
            _DRAWING_SIDE.pop(next(iter(_DRAWING_SIDE)))
        _DRAWING_SIDE[key] = hit
    return hit


def _coarse_chamfer(strokes: np.ndarray, to_strokes: np.ndarray, outline: np.ndarray, to_outline: np.ndarray,
                    key, cap: float) -> np.ndarray:
    """`_chamfer` over `_coarse_grid(n)`, the same numbers, read from the landing tables."""
    out_distances, stroke_landings = _drawing_side(strokes, to_strokes, key)
    d_out = np.ascontiguousarray(out_distances[np.flatnonzero(outline)].T)  # transforms x outline pixels
    return _rms_chamfer(d_out, to_outline.ravel()[stroke_landings], cap)


def _centred_points(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    c = mask.shape[0] / 2.0
    return np.stack([xs + 0.5 - c, ys + 0.5 - c], axis=1).astype(np.float32)


# The last few registrations by image content, so the repairs and `treediff solve`'s report
# reuse the goal's transform instead of searching again. Values depend on the key alone,
# so dropping the oldest entry is as good as any policy.
_MEMO: dict = {}
_MEMO_SIZE = 256


def chamfer_distance(strokes: np.ndarray, to_strokes: np.ndarray, outline: np.ndarray,
                     transform: Similarity = IDENTITY) -> float:
    """The symmetric RMS chamfer distance in canvas units at one transform (both directions
    in full, no correction cost): `sketch.outline_distance` at the identity."""
    from scipy.ndimage import distance_transform_edt

    to_outline = distance_transform_edt(~outline).astype(np.float32)
    pixels = _chamfer(transform.as_params(), _centred_points(outline), _centred_points(strokes), to_strokes, to_outline)[0]
    return float(pixels) * CANVAS_UNITS / strokes.shape[0]


def register(strokes: np.ndarray, to_strokes: np.ndarray, outline: np.ndarray) -> tuple[float, Similarity]:
    """(distance in canvas units including the correction cost, transform) for one candidate.

    `strokes` is the drawing's stroke mask and `to_strokes` its distance map (pixels);
    `outline` the candidate render's outline mask, same size.
    """
    from scipy.ndimage import distance_transform_edt

    n = strokes.shape[0]
    key = (strokes.shape, hash(strokes.tobytes()), hash(outline.tobytes()))
    if key in _MEMO:
        return _MEMO[key]
    to_outline = distance_transform_edt(~outline).astype(np.float32)
    outline_pts, stroke_pts = _centred_points(outline), _centred_points(strokes)
    identity = np.array(IDENTITY_PARAMS)
    lo, hi = identity - _reach(n), identity + _reach(n)
    step = _coarse_step(n)
    units = CANVAS_UNITS / n

    def cheapest(grid: np.ndarray, distance: np.ndarray) -> np.ndarray:
        return grid[int(np.argmin(distance * units + CORRECTION_COST * correction(grid, n)))]

    grid = _coarse_grid(n)
    if n * n <= TABLE_MAX_PIXELS:
        best_params = cheapest(grid, _coarse_chamfer(strokes, to_strokes, outline, to_outline, key[:2], ROBUST_CAP * n))
    else:
        best_params = cheapest(grid, _chamfer(grid, outline_pts, stroke_pts, to_strokes, to_outline, ROBUST_CAP * n))
    for _ in range(REFINE_ROUNDS):
        step = step / 2
        grid = np.vstack([np.clip(_grid(best_params, step, (3, 3, 3)), lo, hi), best_params])  # the incumbent stays
        best_params = cheapest(grid, _chamfer(grid, outline_pts, stroke_pts, to_strokes, to_outline, ROBUST_CAP * n))
    # Measured in full at the transform found: a missing or extra part still costs all it should.
    distance = float(_chamfer(best_params[None], outline_pts, stroke_pts, to_strokes, to_outline)[0]) * units
    result = (distance + CORRECTION_COST * float(correction(best_params, n)[0]),
              Similarity(*(float(v) for v in best_params)))
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = result
    return result


def to_program_frame(image: np.ndarray, transform: Similarity) -> np.ndarray:
    """The drawing resampled into the program's frame: what it would be without `transform`."""
    from scipy.ndimage import map_coordinates

    if transform == IDENTITY:
        return image
    n = image.shape[0]
    c = n / 2.0
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    px, py = xs + 0.5 - c, ys + 0.5 - c
    theta = math.radians(transform.angle_deg)
    cos, sin, s = math.cos(theta), math.sin(theta), transform.scale
    fx = s * (cos * px - sin * py) + transform.dx + c - 0.5
    fy = s * (sin * px + cos * py) + transform.dy + c - 0.5
    return map_coordinates(image, [fy, fx], order=1, mode="constant", cval=0.0).astype(np.float32)
