"""CSG2D residual repairs: programs that fix what the current render gets visibly wrong.

For filled pictures (`csg2d_repairs`), a repair adds the shape that best covers the ink
the render lacks, ``(+ P S)``, or cuts out the one that best covers the extra ink,
``(- P S)``, chosen among every shape on the grid at once (`csg2d_pursuit`); `csg2d_fits`
picks the first shape of search's greedy fit the same way. For sketches
(`csg2d_sketch_repairs`), shapes are read off the outline: a region's image moments
(`fit_shapes`: a circle of the same area at its centroid, a quad from the second
moments) and, where moments mislead (a shape the canvas clips, or with a piece cut
out), circles through its arcs and the tightest box at the angles quads turn to.

Why a hand-written proposal next to the policy: the policy gets structure right long
before it reads numbers well, and its failures are mostly shapes it never adds (a small
part missing) or adds with the wrong operator (a hole drawn with + ). A repair reads the
missing part's numbers directly; the search's coordinate polish makes them exact where
they are not. Every repaired program is rendered and counted against the search budget
like any other candidate. Search uses a domain's repairs only when the domain names them
(`Domain.repairs`); `SearchConfig.repair` turns them off for ablations.
"""

from __future__ import annotations

import math
import re

import numpy as np
from scipy import ndimage

from ..grammar import Grammar, Node
from .csg2d_pursuit import add_gain, best_shapes, cut_gain

HEX = "0123456789ABCDEF"
ANGLE_LETTERS = "GHIJKLMN"  # 0, 45, ..., 315 degrees
MAX_REGIONS = 3  # largest pieces of unexplained stroke that get a sketch repair
PURSUIT_SHAPES = 2  # best shapes per operator that a repair or fit offers (docs/models.md)
CIRCLE_TRIALS = 200  # RANSAC trials per circle read off an outline


def _digit(value: float) -> str:
    return HEX[int(min(max(round(value), 0), 15))]


def _largest_labels(labels: np.ndarray, n: int, counted: np.ndarray, min_count: float) -> list[int]:
    """The labels (1..n) with the most `counted` pixels, at least `min_count`, at most MAX_REGIONS."""
    if n == 0:
        return []
    counts = ndimage.sum_labels(counted, labels, index=np.arange(1, n + 1))
    return [int(i) + 1 for i in np.argsort(-counts) if counts[i] >= min_count][:MAX_REGIONS]


def _principal_axes(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, int]:
    """(minor, major, step) of a set of pixels: the sides of the rectangle with the same
    second moments (a w x h rectangle has variances w^2/12 and h^2/12 along its axes) and
    the major axis's direction snapped to a multiple of 45 degrees (0-3, as quads turn)."""
    cov = np.cov(np.stack([xs, ys]).astype(np.float64)) if len(xs) > 1 else np.zeros((2, 2))
    eigvals, eigvecs = np.linalg.eigh(cov + np.eye(2) / 12.0)  # + a pixel's own variance
    minor, major = (math.sqrt(12.0 * max(v, 0.0)) for v in eigvals)
    axis = eigvecs[:, 1]
    step = int(round(math.degrees(math.atan2(axis[1], axis[0])) % 180.0 / 45.0)) % 4
    return minor, major, step


def _circles_on_edge(region: np.ndarray, most: int = 2) -> list[tuple[float, float, float]]:
    """(x, y, r) in pixels of up to `most` circles that the region's outline follows, where
    it is not the canvas border: the longest arc first, then the longest among the rest.

    A circle the canvas clips has its centroid pulled inward and less area, so the moment
    fit misses it, but its visible arc still lies on the true circle; a circle with a bite
    taken out has two arcs, its own and the bite's. Each is found by RANSAC (circles through
    three outline points, the one most points lie on, refined by least squares on those)
    with a fixed seed, so a fit depends on the picture alone."""
    outline = region & ~ndimage.binary_erosion(region)
    outline[0, :] = outline[-1, :] = outline[:, 0] = outline[:, -1] = False
    ys, xs = np.nonzero(outline)
    points = np.stack([xs + 0.5, ys + 0.5], axis=1).astype(np.float64)
    rng = np.random.default_rng(0)
    circles = []
    while len(circles) < most and len(points) >= 8:
        trios = points[rng.integers(0, len(points), size=(CIRCLE_TRIALS, 3))]
        centres, radii = _circles_through_three(trios)
        ok = np.isfinite(radii) & (radii > 1.0)
        if not ok.any():
            break
        centres, radii = centres[ok], radii[ok]
        dist = np.abs(np.linalg.norm(points[None, :, :] - centres[:, None, :], axis=2) - radii[:, None])
        inliers = dist < 0.8
        best = int(np.argmax(inliers.sum(axis=1)))
        on = inliers[best]
        if on.sum() < 8:
            break
        fit = _circle_through(points[on, 1], points[on, 0])
        if fit is None:
            break
        cx, cy, r = fit
        circles.append((cx, cy, r + 0.5))  # outline pixels are centred half a pixel inside the edge
        points = points[~on]
    return circles


def _circles_through_three(trios: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (n, 2) and radii (n,) of the circles through each trio of points (n, 3, 2);
    nan for collinear trios."""
    a, b, c = trios[:, 0], trios[:, 1], trios[:, 2]
    d = 2.0 * (a[:, 0] * (b[:, 1] - c[:, 1]) + b[:, 0] * (c[:, 1] - a[:, 1]) + c[:, 0] * (a[:, 1] - b[:, 1]))
    sa, sb, sc = (a * a).sum(1), (b * b).sum(1), (c * c).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = (sa * (b[:, 1] - c[:, 1]) + sb * (c[:, 1] - a[:, 1]) + sc * (a[:, 1] - b[:, 1])) / d
        uy = (sa * (c[:, 0] - b[:, 0]) + sb * (a[:, 0] - c[:, 0]) + sc * (b[:, 0] - a[:, 0])) / d
    centres = np.stack([ux, uy], axis=1)
    radii = np.linalg.norm(a - centres, axis=1)
    radii[np.abs(d) < 1e-9] = np.nan
    return centres, radii


def _tightest_box(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float, float, int]:
    """(cx, cy, along, across, step) of the smallest box around the pixels among the four
    directions quads can turn to (multiples of 45 degrees): where a piece is cut out of a
    rectangle or the canvas hides part of it, the moments no longer give its sides but the
    box around what is left still does (what the canvas hides draws nothing either way)."""
    best = None
    for step in range(4):
        theta = math.radians(45.0 * step)
        u = xs * math.cos(theta) + ys * math.sin(theta)
        v = -xs * math.sin(theta) + ys * math.cos(theta)
        along, across = u.max() - u.min() + 1.0, v.max() - v.min() + 1.0
        if best is None or along * across < best[0]:
            cu, cv = (u.max() + u.min()) / 2.0, (v.max() + v.min()) / 2.0
            cx = cu * math.cos(theta) - cv * math.sin(theta) + 0.5
            cy = cu * math.sin(theta) + cv * math.cos(theta) + 0.5
            best = (along * across, (cx, cy, along, across, step))
    return best[1]


def _box_text(cx: float, cy: float, along: float, across: float, step: int, per_digit: float) -> str:
    """The quad (program text) of a box given in pixels, its long side at 45 * `step` degrees."""
    return (f"(Quad {_digit(cx / per_digit)} {_digit(cy / per_digit)} {_digit(along / per_digit)} "
            f"{_digit(across / per_digit)} {ANGLE_LETTERS[step]})")


def fit_shapes(region: np.ndarray) -> list[str]:
    """CSG2D shapes (program text) approximating one region of a square image."""
    size = region.shape[0]
    per_digit = size / 16.0  # numbers are half-units of a 32-unit canvas: one digit = size/16 px
    ys, xs = np.nonzero(region)
    area = float(len(xs))
    cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
    x, y = _digit(cx / per_digit), _digit(cy / per_digit)
    shapes = [f"(Circle {_digit(math.sqrt(area / math.pi) / per_digit)} {x} {y})"]
    for edge in _circles_on_edge(region):
        ex, ey, er = (v / per_digit for v in edge)
        # a straight side fits a huge circle, or one far off the canvas, that no program
        # writes: not a circle's arc
        if er <= 15.5 and abs(ex - 7.5) <= 8.0 and abs(ey - 7.5) <= 8.0:
            circle = f"(Circle {_digit(er)} {_digit(ex)} {_digit(ey)})"
            if circle not in shapes:
                shapes.append(circle)
    minor, major, step = _principal_axes(xs, ys)
    letters = {ANGLE_LETTERS[step]}
    if major < 1.3 * minor:  # nearly square: the axis is noise, try both orientations
        letters |= {"G", "H"}
    for letter in sorted(letters):
        shapes.append(f"(Quad {x} {y} {_digit(major / per_digit)} {_digit(minor / per_digit)} {letter})")
    bx, by, along, across, step = _tightest_box(xs, ys)
    box = _box_text(bx, by, along, across, step, per_digit)
    if box not in shapes:
        shapes.append(box)
    return shapes


def csg2d_repairs(grammar: Grammar, program: str, target: np.ndarray, image: np.ndarray) -> list[Node]:
    """Programs that add the shapes that most reduce the missing ink, ``(+ P S)``, and cut
    out those that most reduce the extra ink, ``(- P S)``: the best of every shape on the
    grid (`csg2d_pursuit.best_shapes`).

    `target` and `image` are renders of the same size in [0, 1], ink = 1 (user images are
    brought to that polarity when loaded). The residual is always taken against the ink,
    although the CSG2D goal also accepts the inverted picture: a first version followed
    whichever polarity the render matched better, and the fit chain, built by repairs,
    then drifted into drawing the picture's negative (2 of 118 answers in `treediff bench`).
    """
    programs = []
    for op, gain in (("+", add_gain(target, image)), ("-", cut_gain(target, image))):
        programs += [f"({op} {program} {shape})" for shape in best_shapes(gain, PURSUIT_SHAPES)]
    return [grammar.parse(text) for text in programs]


def csg2d_fits(grammar: Grammar, target: np.ndarray) -> list[Node]:
    """The single shapes that best draw the target's ink: where search's greedy residual
    fit begins (`Searcher.fit_chain`). Only the ink, although the goal accepts the
    inverted picture too: shapes fitted to the background draw the negative of the
    picture, which passes the goal but is not the program a user asked for (a first
    version of the fit read both sides, and 5 of its 38 answers on the benchmark were
    negatives). Every shape returned covers more ink than background."""
    return [grammar.parse(shape) for shape in best_shapes(add_gain(target, np.zeros_like(target)), PURSUIT_SHAPES)]


# ----------------------------------------------------------------------------- sketches
STROKE_TOLERANCE = 2.5 / 64  # share of the width: strokes farther than this from the outline are unexplained
MIN_STROKE_FRACTION = 0.002  # unexplained stroke pieces smaller than this share of the canvas are wobble


def _circle_through(ys: np.ndarray, xs: np.ndarray) -> tuple[float, float, float] | None:
    """Least-squares circle through points (the algebraic fit: x^2 + y^2 + Dx + Ey + F = 0),
    which also fits an arc: a bite or a bulge is drawn as part of a circle's outline."""
    a = np.stack([xs, ys, np.ones_like(xs)], axis=1)
    b = -(xs * xs + ys * ys)
    (d, e, f), *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = -d / 2.0, -e / 2.0
    r2 = cx * cx + cy * cy - f
    return (cx, cy, math.sqrt(r2)) if r2 > 0 else None


def _cutters_along(ys: np.ndarray, xs: np.ndarray, stray: tuple[np.ndarray, np.ndarray],
                   per_digit: float) -> list[str]:
    """Quads with one side on a straight stroke, reaching across it to the render's stray outline.

    A cut by a quad shows in an outline drawing as a straight line across the shape, and
    the render without the cut still draws the outline beyond that line. Quads turn in
    steps of 45 degrees, so the line's direction is snapped to one; the quad lies on the
    side of the line where the stray outline is (both sides when there is none).
    """
    if len(xs) < 4:
        return []
    centre = np.array([xs.mean(), ys.mean()])
    width, length, step = _principal_axes(xs, ys)
    if width > 0.35 * length:  # not a straight stroke
        return []
    theta = math.radians(45.0 * step)
    along = np.array([math.cos(theta), math.sin(theta)])
    normal = np.array([-along[1], along[0]])
    points = np.stack([stray[1], stray[0]], axis=1) - centre
    depth_all = points @ normal
    near = np.abs(points @ along) <= length  # stray outline beside this stroke, not elsewhere
    cutters = []
    sides = [1.0, -1.0]
    if near.any():
        sides = [1.0 if depth_all[near].mean() > 0 else -1.0]
    for side in sides:
        reach = depth_all[near] * side if near.any() else np.array([])
        depth = (reach.max() if reach.size and reach.max() > 0 else 4 * per_digit) + per_digit
        span = max(length, 2.0 * np.abs(points[near] @ along).max() if near.any() else 0.0) + 2 * per_digit
        cx, cy = centre + normal * side * depth / 2.0
        cutters.append(f"(Quad {_digit(cx / per_digit)} {_digit(cy / per_digit)} {_digit(span / per_digit)} "
                       f"{_digit(depth / per_digit)} {ANGLE_LETTERS[step]})")
    return cutters


# Whole-drawing corrections tried by `regridded`: turns, scales and shifts (pixels at 64 px)
# within what a hand does (sketch_registration's range); most give the same program.
REGRID_ANGLES = (-8.0, -4.0, 0.0, 4.0, 8.0)
REGRID_SCALES = (0.95, 1.0, 1.05)
REGRID_SHIFTS = (-2.0, 0.0, 2.0)
REGRID_MAX = 40  # programs offered per repair, smallest corrections first (each costs a node)
_CIRCLE = re.compile(r"\(Circle (\w) (\w) (\w)\)")
_QUAD = re.compile(r"\(Quad (\w) (\w) (\w) (\w) (\w)\)")


def _moved(program: str, angle: float, scale: float, dx: float, dy: float, size: int) -> str:
    """`program` with every shape mapped by the inverse of one whole-drawing correction
    (turn by `angle` degrees and scale about the centre, then shift by (dx, dy) pixels)."""
    c = size / 2.0
    per_digit = size / 16.0  # a position digit is two canvas units
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def centre(x: str, y: str) -> str:
        px, py = per_digit * int(x, 16) - c - dx, per_digit * int(y, 16) - c - dy
        u, v = (cos * px + sin * py) / scale + c, (-sin * px + cos * py) / scale + c
        return f"{_digit(u / per_digit)} {_digit(v / per_digit)}"

    def circle(m) -> str:
        return f"(Circle {_digit(int(m.group(1), 16) / scale)} {centre(m.group(2), m.group(3))})"

    def quad(m) -> str:
        w, h = (_digit(int(v, 16) / scale) for v in m.group(3, 4))
        return f"(Quad {centre(m.group(1), m.group(2))} {w} {h} {m.group(5)})"

    return _QUAD.sub(quad, _CIRCLE.sub(circle, program))


def regridded(program: str, size: int = 64) -> list[str]:
    """The program with all its shapes moved together by the inverse of each whole-drawing
    correction in REGRID_*, snapped back to the grid: the distinct results other than `program`,
    smallest corrections first, at most REGRID_MAX.

    Why: fitted to a turned or shifted drawing, a program's shapes land each on its own
    nearest grid digits, and moving one at a time never improves the registered score
    (the others stop matching the same correction). Moving all together reaches the
    program the person drew. Quads keep their angle letter: the corrections turn less than
    the 22.5 degrees that would change it.
    """
    corrections = sorted(((a, s, dx, dy) for a in REGRID_ANGLES for s in REGRID_SCALES
                          for dx in REGRID_SHIFTS for dy in REGRID_SHIFTS),
                         key=lambda t: abs(t[0]) / max(REGRID_ANGLES) + abs(t[1] - 1.0) / (max(REGRID_SCALES) - 1.0)
                         + math.hypot(t[2], t[3]) / max(REGRID_SHIFTS))
    moved = (_moved(program, *correction, size) for correction in corrections)
    return [text for text in dict.fromkeys(moved) if text != program][:REGRID_MAX]


def csg2d_sketch_repairs(grammar: Grammar, program: str, target: np.ndarray, image: np.ndarray) -> list[Node]:
    """Repairs against a hand-drawn outline: a shape for each piece of stroke the render's
    outline does not explain, cut out (``-``) when the piece lies inside the render's
    ink, added (``+``) when outside; in an outline drawing of CSG a line inside a shape can
    only be the edge of a hole or a bite.

    A piece is fitted by the circle through its points (a least-squares fit, which also
    reads an arc), when it closes on itself by the moment fit of the region it encloses,
    and when it is straight and inside the ink by quads cutting along it (`_cutters_along`).
    The drawing is first brought into the program's frame by the transform the sketch goal
    registered it with (`sketch_registration`). The program moved as a whole onto other
    grid digits (`regridded`) comes first.
    """
    from ..sketch import _stroke_distances, outline_of, registered_drawing

    target = registered_drawing(target, image)  # read as the goal does: turned, scaled, shifted onto this program
    strokes, _ = _stroke_distances(target)
    outline = outline_of(image)
    if not strokes.any() or not outline.any():
        return []
    size = target.shape[0]
    per_digit = size / 16.0
    tolerance = STROKE_TOLERANCE * size
    unexplained = strokes & (ndimage.distance_transform_edt(~outline) > tolerance)
    # Outline the drawing does not have: where a straight cut took a corner or an end away.
    stray_ys, stray_xs = np.nonzero(outline & (ndimage.distance_transform_edt(~strokes) > tolerance))
    stray = (stray_ys + 0.5, stray_xs + 0.5)
    joined = ndimage.binary_dilation(unexplained, iterations=1)  # bridge pen-lift gaps
    labels, n = ndimage.label(joined, structure=np.ones((3, 3), dtype=bool))
    programs = []
    for k in _largest_labels(labels, n, unexplained, MIN_STROKE_FRACTION * size * size):
        piece = labels == k
        ys, xs = np.nonzero(piece & unexplained)
        op = "-" if (image[ys, xs] > 0.5).mean() > 0.5 else "+"
        shapes = []
        circle = _circle_through(ys + 0.5, xs + 0.5)
        if circle is not None and circle[2] / per_digit <= 15.5:
            cx, cy, r = circle
            shapes.append(f"(Circle {_digit(r / per_digit)} {_digit(cx / per_digit)} {_digit(cy / per_digit)})")
        enclosed = ndimage.binary_fill_holes(piece)
        if enclosed.sum() > 2 * piece.sum():  # a closed loop: fit the region it encloses
            shapes += fit_shapes(enclosed)
        if op == "-":
            shapes += _cutters_along(ys + 0.5, xs + 0.5, stray, per_digit)
        programs += [f"({op} {program} {shape})" for shape in dict.fromkeys(shapes)]
    return [grammar.parse(text) for text in regridded(program, size) + programs]


# ----------------------------------------------------------------------------- sketch fits
GAP_BRIDGE = 2  # closing iterations (pixels at 64) that bridge pen-lift gaps before a drawing's regions are filled
MIN_REGION_FRACTION = 0.003  # enclosed regions smaller than this share of the canvas are pen loops, not shapes
FIT_REGIONS = 3  # largest drawn regions that get shapes of their own


def drawn_regions(strokes: np.ndarray, bridge: int = GAP_BRIDGE, structure: np.ndarray | None = None) -> np.ndarray:
    """The region an outline drawing encloses, by the even-odd rule: the pieces of paper
    one, three, ... stroke loops deep, grown by a pixel to reach the middle of the pen line.

    Pen-lift gaps are bridged first (a closing of `bridge` pixels, by `structure`: scipy's
    default cross, which joins strokes that nearly meet; a 3 x 3 square joins ends up to
    2 * `bridge` pixels apart), else a loop drawn in
    two strokes encloses nothing. Even-odd makes a ring drawn as two loops an annulus, not
    a disc; the depth of each piece of paper is its distance from the outside in a graph
    whose edges are the stroke loops that separate two pieces."""
    pad = bridge + 1
    closed = ndimage.binary_closing(np.pad(strokes, pad), structure=structure,
                                    iterations=bridge)[pad:-pad, pad:-pad] | strokes
    paper, n_paper = ndimage.label(~closed)
    ink, n_ink = ndimage.label(closed, structure=np.ones((3, 3), dtype=bool))
    if n_paper == 0:
        return np.zeros_like(strokes, dtype=bool)
    border = set(np.unique(np.concatenate([paper[0], paper[-1], paper[:, 0], paper[:, -1]]))) - {0}
    # the pieces of paper each stroke component touches
    touches = [set() for _ in range(n_ink + 1)]
    for paper_id in range(1, n_paper + 1):
        rim = ndimage.binary_dilation(paper == paper_id, structure=np.ones((3, 3), dtype=bool)) & closed
        for ink_id in np.unique(ink[rim]).tolist():
            touches[ink_id].add(paper_id)
    depth = {p: 0 for p in border}
    frontier, level = set(border), 0
    while frontier:  # breadth first: each stroke loop crossed adds one to the depth
        level += 1
        reached = {p for ids in touches if ids & frontier for p in ids if p not in depth}
        depth.update((p, level) for p in reached)
        frontier = reached
    inside = np.isin(paper, [p for p, d in depth.items() if d % 2 == 1])
    return ndimage.binary_dilation(inside, iterations=1) & ~np.isin(paper, [p for p, d in depth.items() if d % 2 == 0])


def _frame_box(xs: np.ndarray, ys: np.ndarray, step: int) -> tuple[float, float, float, float]:
    """(cx, cy, along, across) in pixels of the smallest box around the pixels whose sides
    run at 45 * `step` degrees (step 0 or 1: quads' sides lie in one of these two frames)."""
    theta = math.radians(45.0 * step)
    u = xs * math.cos(theta) + ys * math.sin(theta)
    v = -xs * math.sin(theta) + ys * math.cos(theta)
    pad = 0.5 * (abs(math.cos(theta)) + abs(math.sin(theta)))  # a pixel's own half-extent
    u0, u1, v0, v1 = u.min() - pad, u.max() + pad, v.min() - pad, v.max() + pad
    cu, cv = (u0 + u1) / 2.0, (v0 + v1) / 2.0
    return (cu * math.cos(theta) - cv * math.sin(theta) + 0.5, cu * math.sin(theta) + cv * math.cos(theta) + 0.5,
            u1 - u0, v1 - v0)


def _slab_cutter(normal_deg: float, t: float, far: float, d_lo: float, d_hi: float, per_digit: float) -> str | None:
    """A quad covering the slab t <= n.p <= far (pixels; n the unit normal at `normal_deg`)
    between d_lo and d_hi along the line, its near side on n.p = t as closely as the grid
    allows: what cuts a straight edge into a shape. None when no quad on the grid reaches."""
    phi = math.radians(normal_deg)
    n = np.array([math.cos(phi), math.sin(phi)])
    d = np.array([-n[1], n[0]])
    half_along = (far - t) / 2.0 + per_digit / 2.0  # reach a little past the far side
    ideal = n * (t + half_along) + d * (d_lo + d_hi) / 2.0
    cx, cy = (int(min(max(round(v / per_digit), 0), 15)) for v in ideal)
    # a quad w digits wide is 2w canvas units across: its sides lie w * per_digit / 2 px from its centre
    w = round(2.0 * (float(n @ np.array([cx, cy])) * per_digit - t) / per_digit)
    h = math.ceil((d_hi - d_lo + 2 * per_digit) / per_digit)
    if not 1 <= w <= 15:
        return None
    letter = ANGLE_LETTERS[int(round(normal_deg / 45.0)) % 4]
    return f"(Quad {HEX[cx]} {HEX[cy]} {HEX[w]} {HEX[min(h, 15)]} {letter})"


POLYGON_CUT = 0.5  # digits a shape must stand out past a region's edge (beyond its usual margin) to be cut there


def _outline_points(shape: str, per_digit: float) -> np.ndarray:
    """Points (m, 2), pixels, on the outline of one shape's program text: a quad's corners,
    or 32 points around a circle."""
    circle = _CIRCLE.fullmatch(shape)
    if circle:
        r, x, y = (int(v, 16) * per_digit for v in circle.groups())
        angles = np.linspace(0.0, 2.0 * math.pi, 32, endpoint=False)
        return np.stack([x + r * np.cos(angles), y + r * np.sin(angles)], axis=1)
    x, y, w, h, letter = _QUAD.fullmatch(shape).groups()
    theta = math.radians(45.0 * ANGLE_LETTERS.index(letter))
    u = np.array([math.cos(theta), math.sin(theta)]) * int(w, 16) * per_digit / 2.0
    v = np.array([-math.sin(theta), math.cos(theta)]) * int(h, 16) * per_digit / 2.0
    centre = np.array([int(x, 16), int(y, 16)]) * per_digit
    return np.array([centre + a * u + b * v for a in (-1, 1) for b in (-1, 1)])


def _edge_cuts(shape: str, points: np.ndarray, normals_deg, per_digit: float) -> list[str]:
    """Quads that cut `shape` back to the region (`points`, pixel centres) along each
    direction in `normals_deg` where the shape stands out past the region's edge by
    POLYGON_CUT digits more than it does in most directions (a drawn shape and its fit
    differ a little everywhere): the deepest cut first."""
    outline = _outline_points(shape, per_digit)
    rows = []
    for normal_deg in normals_deg:
        phi = math.radians(normal_deg)
        n = np.array([math.cos(phi), math.sin(phi)])
        d = np.array([-n[1], n[0]])
        t = float((points @ n).max()) + 0.5 * (abs(n[0]) + abs(n[1]))  # to the pixel's edge
        along = outline @ d
        rows.append((float((outline @ n).max()) - t, normal_deg, t, float(along.min()), float(along.max())))
    usual = max(float(np.median([r[0] for r in rows])), 0.0)
    cuts = []
    for excess, normal_deg, t, d_lo, d_hi in sorted(rows, reverse=True):
        if excess - usual >= POLYGON_CUT * per_digit:
            cutter = _slab_cutter(normal_deg, t, t + excess, d_lo, d_hi, per_digit)
            if cutter is not None:
                cuts.append(cutter)
    return cuts


def _polygon_fits(region: np.ndarray, per_digit: float, wholes=()) -> list[str]:
    """A region with straight edges at multiples of 45 degrees (a box with corners cut
    off: a triangle, a trapezoid, a pentagon) as its box in one frame minus a quad per
    corner, each cutting along the region's edge in the other frame's directions; each
    circle among `wholes` likewise minus a quad where a straight edge cuts it.

    Why: quads turn in steps of 45 degrees, so what a difference of quads leaves is such
    a polygon, and the moment or box fit of it is a box whose corners the search must
    learn to cut one by one; the policy rarely does (docs/models.md, session 17).
    Returns each box, fully cut, then with each single cut."""
    ys, xs = np.nonzero(region)
    points = np.stack([xs + 0.5, ys + 0.5], axis=1)
    programs = []
    cases = []
    for step in (0, 1):
        bx, by, along, across = _frame_box(xs, ys, step)
        box = _box_text(bx, by, along, across, step, per_digit)
        cases.append((box, [45.0 * step + 45.0 + 90.0 * k for k in range(4)]))
    cases += [(shape, [45.0 * k for k in range(8)]) for shape in wholes if _CIRCLE.fullmatch(shape)]
    for shape, normals in cases:
        cuts = _edge_cuts(shape, points, normals, per_digit)
        full = shape
        for cutter in cuts:
            full = f"(- {full} {cutter})"
        programs.append(full)
        if len(cuts) > 1:
            programs += [f"(- {shape} {cutter})" for cutter in cuts[:4]]
    return programs


NOTCH_AREA = 0.5  # square digits a dent in a region's convex hull must cover to get a notch cutter
NOTCHES = 2  # largest dents per region that do


def _notch_cutters(region: np.ndarray, per_digit: float) -> list[str]:
    """Quads that cut a V-shaped notch into a region: for each of its largest dents (its
    convex hull less the region), the square whose corner sits at the dent's deepest point,
    its diagonal along the line from there to the dent's middle, snapped to 45 degrees.

    Why: a quad whose corner pokes into a shape leaves a V, which neither a straight cut
    (`_edge_cuts`) nor a circle's arc (`_circles_on_edge`) reads; on the validation split
    a circle with such a notch was never tried in 1,000 programs (docs/models.md, session 18)."""
    from skimage.morphology import convex_hull_image

    hull = convex_hull_image(region)
    dents = ndimage.binary_opening(hull & ~region)  # slivers along the hull's edge are wobble, not dents
    labels, n = ndimage.label(dents)
    if n == 0:
        return []
    depth = ndimage.distance_transform_edt(np.pad(hull, 1))[1:-1, 1:-1]  # pixels to the hull's edge
    counts = ndimage.sum_labels(dents, labels, index=np.arange(1, n + 1))
    cutters = []
    for k in np.argsort(-counts)[:NOTCHES]:
        if counts[k] < NOTCH_AREA * per_digit * per_digit:
            break
        ys, xs = np.nonzero(labels == k + 1)
        deepest = int(np.argmax(depth[ys, xs]))
        vertex = np.array([xs[deepest] + 0.5, ys[deepest] + 0.5])
        mouth = np.array([xs.mean() + 0.5, ys.mean() + 0.5]) - vertex
        if not np.hypot(*mouth):
            continue
        bisector = round(math.degrees(math.atan2(mouth[1], mouth[0])) / 45.0) * 45.0
        u = np.array([math.cos(math.radians(bisector)), math.sin(math.radians(bisector))])
        # The square reaches past the hull by half its depth again, so the cut clears the mouth.
        side = max(1.5 * math.sqrt(2.0) * float(depth[ys[deepest], xs[deepest]]), per_digit)
        cx, cy = vertex + u * side / math.sqrt(2.0)
        cutters.append(_box_text(cx, cy, side, side, int(round((bisector + 45.0) / 45.0)) % 4, per_digit))
    return cutters


def _region_shapes(region: np.ndarray, per_digit: float) -> tuple[list[str], list[str], list[str], list[str]]:
    """(whole shapes, arcs cutting in, arcs bounding it, unions): the moment and box fits of a
    region (`fit_shapes`) and its polygon fits (`_polygon_fits`), then the circles its
    outline follows in part (`_circles_on_edge`), split by which side of them the region
    lies on: outside, a bite (cut out); inside, a bulge (the region is within it); and the
    notches quads' corners cut into it (`_notch_cutters`), with the bites. A circle whose
    disc lies within the region while much of the region lies outside it is one shape of
    a union: the region's rest, fitted on its own, joined to it (`_joined_to_circle`)."""
    ys, xs = np.nonzero(region)
    cuts, bounds, unions = [], [], []
    for cx, cy, r in _circles_on_edge(region, most=3):
        ex, ey, er = cx / per_digit, cy / per_digit, r / per_digit
        if er <= 15.5 and abs(ex - 7.5) <= 12.0 and abs(ey - 7.5) <= 12.0:
            arc = f"(Circle {_digit(er)} {_digit(ex)} {_digit(ey)})"
            inside = float((np.hypot(xs + 0.5 - cx, ys + 0.5 - cy) <= r + 1.0).mean())
            if inside < 0.9:
                cuts.append(arc)
            if inside > 0.5:
                bounds.append(arc)
            unions += [f"(+ {arc} {rest})" for rest in _joined_to_circle(region, cx, cy, r)]
    cuts += _notch_cutters(region, per_digit)
    whole = fit_shapes(region)
    shapes = whole + _polygon_fits(region, per_digit, whole + bounds)
    return (list(dict.fromkeys(shapes)), list(dict.fromkeys(cuts)), list(dict.fromkeys(bounds)),
            list(dict.fromkeys(unions)))


UNION_DISC_INSIDE = 0.9  # share of a circle's disc the region must hold for the circle to be one shape of a union
UNION_REST = 0.15  # ... and share of the region that must lie outside the disc


def _joined_to_circle(region: np.ndarray, cx: float, cy: float, r: float) -> list[str]:
    """Shapes fitted (`fit_shapes`) to what a region holds outside the circle (x, y, r in
    pixels) when the region holds nearly all of its disc and much besides: a circle and a
    box drawn as one outline. The rest's tightest box is exact: its side facing the circle
    is a chord of the disc, hidden in the union.

    Why: a union of overlapping shapes is drawn as one outline around one region, and the
    fits read a region only as one shape, or a shape cut; a clean drawing of a circle joined
    to a box was answered with one box, or two circles."""
    size = region.shape[0]
    ys, xs = np.mgrid[0:size, 0:size]
    disc = np.hypot(xs + 0.5 - cx, ys + 0.5 - cy) <= r
    if not disc.any() or (disc & region).sum() < UNION_DISC_INSIDE * disc.sum():
        return []
    rest = region & ~ndimage.binary_dilation(disc, iterations=1)
    if rest.sum() < UNION_REST * region.sum():
        return []
    labels, n = ndimage.label(rest)
    largest = _largest_labels(labels, n, rest, MIN_REGION_FRACTION * size * size)
    return fit_shapes(labels == largest[0]) if largest else []


def _best_covering(grammar: Grammar, readings: list[str], region: np.ndarray) -> list[str]:
    """A region's distinct `readings` (program text) ordered by how well each one's render
    matches the region: IoU less the sketch search's own price per primitive, best first.
    Why: a region's fits list its circles first, so joining two regions' first fits read
    two thin bars as two circles (docs/models.md, session 22). Distinct, because a circle
    can be both a whole shape and a bounding arc, and twice in the two best it would leave
    one reading of the region to be joined where two are meant (session 23)."""
    from ..sketch import SKETCH_COMPLEXITY_PENALTY
    from .csg2d import CSG2DRenderer, masks_iou

    renderer = CSG2DRenderer(grammar)
    size = region.shape[0]
    score = {}
    for text in dict.fromkeys(readings):
        node = grammar.parse(text)
        score[text] = masks_iou(region, renderer.render(node, size)) - SKETCH_COMPLEXITY_PENALTY * node.prims
    return sorted(score, key=lambda text: -score[text])  # stable: ties keep the fits' first order


def _enclosed_regions(strokes: np.ndarray) -> np.ndarray:
    """`drawn_regions`, bridging wider pen-lift gaps while the strokes enclose nothing (up to
    8 px at 64, two digits); when no loop closes at all (a shape thinner than the pen draws
    one thick line), the ink itself."""
    square = np.ones((3, 3), dtype=bool)
    for bridge, structure in [(b, None) for b in range(GAP_BRIDGE, GAP_BRIDGE + 3)] + [(3, square), (4, square)]:
        region = drawn_regions(strokes, bridge, structure)
        if region.sum() >= MIN_REGION_FRACTION * strokes.size:
            return region
    return ndimage.binary_fill_holes(strokes)


BAR_CLEARANCE = 2  # pixels at 64 a stroke must lie outside every drawn region to be a bar of its own
BAR_LENGTH = 4.0  # digits a stroke outside the regions must run to be read as a bar
BARS = 2  # longest such strokes that get shapes


def _bar_shapes(strokes: np.ndarray, region: np.ndarray, per_digit: float) -> list[list[str]]:
    """Per long stroke that bounds no drawn region (at most BARS), the thin quads its ink
    fits (`fit_shapes`). Why: a bar a digit wide drawn as a loop closes into one thick
    stroke at 64 px and encloses no paper, so beside a shape that does (a box and a bar
    joined) the fits would see the box alone and leave the bar to repairs, which
    rarely find it (docs/models.md). Short pieces are a region's tapering tip or a pen's
    overshoot, not bars."""
    stray = strokes & ~ndimage.binary_dilation(region, iterations=BAR_CLEARANCE)
    labels, n = ndimage.label(stray, structure=np.ones((3, 3), dtype=bool))
    size = strokes.shape[0]
    bars = []
    for k in _largest_labels(labels, n, stray, MIN_REGION_FRACTION * size * size)[:BARS]:
        ink = ndimage.binary_fill_holes(ndimage.binary_closing(labels == k, iterations=1))
        ys, xs = np.nonzero(ink)
        if _principal_axes(xs, ys)[1] >= BAR_LENGTH * per_digit:
            bars.append(fit_shapes(ink)[-3:])  # the quads: moment fits and the tightest box
    return bars


def csg2d_sketch_fits(grammar: Grammar, target: np.ndarray) -> list[Node]:
    """Programs read off an outline drawing without the policy: where search's greedy fit
    begins (`Searcher.fit_chain`, whose sketch repairs then add what is missing).

    Each of the largest regions the drawing encloses (`drawn_regions`) is fitted whole (a
    circle or quads from its moments, the tightest box, a box with corners cut off) and,
    since a line drawing of CSG shows a cut as a concave arc, as a whole shape minus each
    circle its outline follows in part from outside; a convex arc that is not the shape's
    own bounds it as the intersection ``(- S (- S C))``. Two or three regions side by side
    are also offered as the union of their readings that match them best (`_best_covering`),
    and a long stroke that bounds no region (a bar too thin to enclose paper, `_bar_shapes`)
    as thin quads alone and joined to the largest region's best readings.

    Why: the policy reads a drawing's structure less reliably than its filled-picture
    counterpart, and a search that settles early on shapes of the wrong kind (two circles
    for a box with a bite out of it) spends its whole budget around them; a quad minus a
    circle read off the outline scores above that within twenty programs."""
    from ..sketch import _stroke_distances

    strokes, _ = _stroke_distances(target)
    size = target.shape[0]
    per_digit = size / 16.0
    if not strokes.any():
        return []
    region = _enclosed_regions(strokes)
    labels, n = ndimage.label(region)
    programs: list[str] = []
    region_readings = []  # per region, largest first: its readings, best first
    for k in _largest_labels(labels, n, region, MIN_REGION_FRACTION * size * size)[:FIT_REGIONS]:
        shapes, cuts, bounds, unions = _region_shapes(labels == k, per_digit)
        wholes = shapes + bounds
        readings = shapes + cuts + bounds + unions
        readings += [f"(- {shape} {arc})" for shape in wholes for arc in cuts if arc != shape]
        readings += [f"(- {shape} (- {shape} {arc}))" for shape in wholes for arc in bounds if arc != shape]
        programs += readings
        region_readings.append(_best_covering(grammar, readings, labels == k))
    if len(region_readings) >= 2:
        programs += [f"(+ {a} {b})" for a in region_readings[0][:2] for b in region_readings[1][:2]]
    if len(region_readings) >= 3:
        programs += [f"(+ (+ {a} {b}) {c})" for a in region_readings[0][:2] for b in region_readings[1][:1]
                     for c in region_readings[2][:1]]
    for thin in _bar_shapes(strokes, region, per_digit):
        programs += thin
        programs += [f"(+ {a} {b})" for a in (region_readings[0][:5] if region_readings else []) for b in thin]
    return [grammar.parse(text) for text in dict.fromkeys(programs)]
