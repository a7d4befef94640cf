"""How much of the sketch benchmark can the drawings tell at all? A Bayes estimate.

    python benchmarks/sketch_ceiling.py --json [--sigma 0.1] [--styles heldout,train] [--draws 3]

`sketch_rate.py` asks for 60 % of its held-out drawings at IoU >= 0.9. Part of what a
drawing leaves open is real: the whole drawing is turned, scaled and shifted (`SketchStyle`),
and a shape's own position and size are on a grid of one digit (4 px at 64), so a shifted
drawing of one program can look like a true drawing of its neighbour. This script
estimates the best any reader of the drawings could do, with search and image processing
taken out:

* Programs: the benchmark split's 64, each cut to the part the picture shows (operands
  that change no pixel are dropped; the simulator draws only the region's outline).
* Observation: every primitive's landmarks (a circle's centre and radius, a quad's four
  corners) after the style's whole-drawing transform, each coordinate with Gaussian noise
  of `sigma` digits, the hand's own wobble. `measured_sigma` prints the simulator's: the
  error of a circle's centre and radius read from the region its drawing encloses, in the
  style without the transform.
* Reader: exact Bayes over the programs of the same structure within two digits of every
  number (uniform prior) and over the transform, with the style's own distribution
  (angle and scale uniform, shift of uniform length in a uniform direction). The shift is
  integrated numerically, angle and scale on a grid.
* Printed: the expected % at IoU >= 0.9 of the reader that maximises it (`pct_ceiling`),
  the % where the most probable program reaches IoU >= 0.9 with the truth
  (`pct_most_probable`), both also by the number of shapes the picture shows.

It is an estimate, not a bound: the reader is told the program's structure and sees the
landmarks of parts a difference hides (optimistic), and Gaussian landmark noise is a
simplification of a wobbling pen (either way). It is CSG2D-specific, like the benchmark.
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import sys
import time

import numpy as np
from tqdm import tqdm

from treediff.errors import TreediffError
from treediff.sketch import (BENCHMARK_PROGRAM_SEEDS, HELDOUT_STYLE, TRAIN_STYLE, SketchStyle, drawable_programs,
                             register_sketch_domain, sketch_program, without_transform)
from treediff.utils import print_summary, run_script

STYLES = {"heldout": HELDOUT_STYLE, "train": TRAIN_STYLE, "heldout-untransformed": without_transform(HELDOUT_STYLE)}
DIGITS = 16  # the canvas is 16 digits wide (a digit is 2 canvas units, 4 px at 64)
CENTRE = DIGITS / 2
REACH = 2  # candidate numbers within this many digits of the truth's
PRIMITIVE = re.compile(r"\((Circle|Quad) ([^()]*)\)")
ANGLES = {letter: 45.0 * i for i, letter in enumerate("GHIJKLMN")}


def visible_part(domain, text: str) -> str:
    """`text` with every operand dropped that changes no pixel at 64 px (at most 2 px)."""
    g = domain.grammar
    node = g.parse(text)
    shown = domain.render(node, 64) > 0.5
    changed = True
    while changed:
        changed = False
        for path, sub_path in g.hoists(node):
            smaller = g.replace(node, path, g.get(node, sub_path))
            if int(((domain.render(smaller, 64) > 0.5) != shown).sum()) <= 2:
                node, changed = smaller, True
                break
    return g.unparse(node)


def landmarks(kind: str, numbers: list[int], angle: float) -> tuple[np.ndarray, float | None]:
    """(points (m, 2) in digits, radius in digits or None) of one primitive."""
    if kind == "Circle":
        r, x, y = numbers
        return np.array([[x, y]], dtype=float), float(r)
    x, y, w, h = numbers
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return np.array([[x + c * u - s * v, y + s * u + c * v]
                     for u, v in ((w / 2, h / 2), (w / 2, -h / 2), (-w / 2, h / 2), (-w / 2, -h / 2))]), None


class Primitive:
    """One primitive of a program: its text span and every candidate's landmarks."""

    def __init__(self, match: re.Match):
        self.kind, fields = match.group(1), match.group(2).split()
        self.span = match.span()
        self.letter = fields[4] if self.kind == "Quad" else None
        self.truth = [int(f, 16) for f in fields[:3 if self.kind == "Circle" else 4]]
        ranges = [range(max(0, n - REACH), min(DIGITS - 1, n + REACH) + 1) for n in self.truth]
        self.options = [list(o) for o in itertools.product(*ranges)]
        angle = ANGLES.get(self.letter, 0.0)
        marks = [landmarks(self.kind, o, angle) for o in self.options]
        self.points = np.stack([p for p, _ in marks]) - CENTRE  # (O, m, 2), about the canvas centre
        self.radii = np.array([r or 0.0 for _, r in marks])
        self.truth_index = self.options.index(self.truth)

    def text(self, option: int) -> str:
        fields = ["%X" % n for n in self.options[option]] + ([self.letter] if self.letter else [])
        return f"({self.kind} {' '.join(fields)})"


def shift_kernel(style: SketchStyle, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """(rho, h): h(rho) = E exp(-|t - rho e|^2 / (2 spread^2)) over the style's shift t
    (length uniform in its range, direction uniform), tabulated in rho (digits)."""
    lo, hi = (v * DIGITS for v in style.offset)
    rho = np.linspace(0.0, hi + 8 * spread, 600)
    if hi == 0:
        return rho, np.exp(-rho ** 2 / (2 * spread ** 2))
    length = lo + (np.arange(200) + 0.5) / 200 * (hi - lo)
    phi = (np.arange(180) + 0.5) / 180 * 2 * math.pi
    tx, ty = (length[:, None] * np.cos(phi)).ravel(), (length[:, None] * np.sin(phi)).ravel()
    h = np.array([np.exp(-((tx - r) ** 2 + ty ** 2) / (2 * spread ** 2)).mean() for r in rho])
    return rho, h


def angle_scale_grid(style: SketchStyle, n_angle: int, n_scale: int) -> tuple[np.ndarray, np.ndarray]:
    angles = np.radians(np.linspace(*style.rotation_deg, n_angle if style.rotation_deg[0] != style.rotation_deg[1] else 1))
    scales = np.linspace(*style.scale, n_scale if style.scale[0] != style.scale[1] else 1)
    a, s = np.meshgrid(angles, scales, indexing="ij")
    return a.ravel(), s.ravel()


def sample_transform(style: SketchStyle, rng: np.random.Generator) -> tuple[float, float, np.ndarray]:
    angle = math.radians(rng.uniform(*style.rotation_deg))
    scale = rng.uniform(*style.scale)
    length, direction = rng.uniform(*style.offset) * DIGITS, rng.uniform(0, 2 * math.pi)
    return angle, scale, length * np.array([math.cos(direction), math.sin(direction)])


def read_drawing(domain, text: str, prims: list[Primitive], grid, kernel, sigma: float, style: SketchStyle,
                 rng: np.random.Generator) -> tuple[float, bool, int]:
    """One drawing of `text`: (expected success of the best reader, whether the most
    probable program reaches IoU >= 0.9 with the truth, number of candidates weighed)."""
    angles, scales = grid
    rho, h = kernel
    cos, sin = np.cos(angles), np.sin(angles)
    angle, scale, shift = sample_transform(style, rng)
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    n_points = sum(p.points.shape[1] for p in prims)
    # Per primitive and option: residual sums over its landmarks at every grid transform
    # (shift left out): sum of e, and sum of |e|^2 plus the radius error squared.
    sums = []
    for p in prims:
        seen = p.points[p.truth_index] @ rot.T + CENTRE + shift
        seen = seen + rng.normal(0.0, sigma, seen.shape)
        px, py = p.points[..., 0:1], p.points[..., 1:2]  # (O, m, 1)
        ex = seen[None, :, 0:1] - (scales * (cos * px - sin * py) + CENTRE)  # (O, m, G)
        ey = seen[None, :, 1:2] - (scales * (sin * px + cos * py) + CENTRE)
        sq = (ex ** 2 + ey ** 2).sum(1)
        if p.kind == "Circle":
            radius = scale * p.radii[p.truth_index] + rng.normal(0.0, sigma)
            sq = sq + (radius - p.radii[:, None] * scales) ** 2
        sums.append((ex.sum(1), ey.sum(1), sq, p.points.shape[1]))
    # Candidates: at every grid transform, each primitive's best option given a shift
    # estimate, three rounds (the most probable programs are among these).
    cols = np.arange(len(angles))
    candidates = {tuple(p.truth_index for p in prims)}
    tx = ty = np.zeros(len(angles))
    for _ in range(3):
        pick = np.stack([(sq - 2 * (tx * sx + ty * sy) + m * (tx ** 2 + ty ** 2)).argmin(0)
                         for sx, sy, sq, m in sums], 1)
        candidates |= set(map(tuple, pick.tolist()))
        tx = sum(s[0][pick[:, i], cols] for i, s in enumerate(sums)) / n_points
        ty = sum(s[1][pick[:, i], cols] for i, s in enumerate(sums)) / n_points
    candidates = sorted(candidates)
    log_evidence = []
    for c in candidates:
        sx = sum(s[0][o] for s, o in zip(sums, c))
        sy = sum(s[1][o] for s, o in zip(sums, c))
        sq = sum(s[2][o] for s, o in zip(sums, c))
        spread = sq - (sx ** 2 + sy ** 2) / n_points  # what no shift explains
        near = np.interp(np.hypot(sx, sy) / n_points, rho, h, right=0.0)  # the shift's prior there
        v = -spread / (2 * sigma ** 2) + np.log(np.maximum(near, 1e-300))
        top = v.max()
        log_evidence.append(top + math.log(np.exp(v - top).mean()))
    log_evidence = np.array(log_evidence)
    posterior = np.exp(log_evidence - log_evidence.max())
    posterior /= posterior.sum()
    masks = []
    for c in candidates:
        out, moved = text, 0
        for p, o in zip(prims, c):
            piece = p.text(o)
            out = out[:p.span[0] + moved] + piece + out[p.span[1] + moved:]
            moved += len(piece) - (p.span[1] - p.span[0])
        masks.append(domain.render_text(out) > 0.5)
    flat = np.stack(masks).reshape(len(masks), -1).astype(np.float32)
    inter = flat @ flat.T
    area = flat.sum(1)
    good = (inter / np.maximum(area[:, None] + area[None] - inter, 1.0) >= 0.9).astype(float)
    truth = candidates.index(tuple(p.truth_index for p in prims))
    return float((good @ posterior).max()), bool(good[int(np.argmax(posterior)), truth]), len(candidates)


def measured_sigma(domain, style: SketchStyle, n: int, seed: int) -> dict:
    """The simulator's own landmark noise: centre and radius of `n` drawn circles, read
    from the region the drawing encloses (`drawn_regions`), in `style` without its
    whole-drawing transform; std of the error in digits."""
    from treediff.preprocess import preprocess_sketch
    from treediff.renderers.csg2d_repair import drawn_regions

    rng = np.random.default_rng(seed)
    centre_err, radius_err = [], []
    for i in range(n):
        r = int(rng.integers(2, 7))
        x, y = (int(v) for v in rng.integers(r + 1, DIGITS - r - 1, 2))
        drawing = sketch_program(domain, domain.grammar.parse(f"(Circle {r:X} {x:X} {y:X})"), 256,
                                 np.random.default_rng(seed + 1 + i), without_transform(style))
        region = drawn_regions(preprocess_sketch(1.0 - drawing, 64, frame="canvas") > 0.5)
        if not region.any():
            continue
        ys, xs = np.nonzero(region)
        centre_err += [(xs.mean() + 0.5) / 4 - x, (ys.mean() + 0.5) / 4 - y]
        radius_err.append(math.sqrt(region.sum() / math.pi) / 4 - r)
    return {"centre": round(float(np.std(centre_err)), 3), "radius": round(float(np.std(radius_err)), 3),
            "circles": len(radius_err)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigma", default="0.1", help="comma-separated landmark noise, in digits")
    parser.add_argument("--styles", default="heldout,train")
    parser.add_argument("--split", choices=sorted(BENCHMARK_PROGRAM_SEEDS), default="test")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--draws", type=int, default=3, help="drawings per program")
    parser.add_argument("--grid", default="129,71", help="angle and scale grid points")
    parser.add_argument("--sigma-circles", type=int, default=60, help="drawn circles for measured_sigma (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    styles = [s for s in args.styles.split(",") if s]
    if not styles or not set(styles) <= set(STYLES):
        raise TreediffError(f"unknown styles {styles}; choices: {', '.join(STYLES)}")
    try:
        sigmas = [float(s) for s in args.sigma.split(",") if s]
        n_angle, n_scale = (int(v) for v in args.grid.split(","))
    except ValueError:
        raise TreediffError("--sigma takes numbers and --grid two integers, comma-separated") from None
    if not sigmas or min(sigmas) <= 0 or args.n < 1 or args.draws < 1 or min(n_angle, n_scale) < 1:
        raise TreediffError("--sigma must be positive, and --n, --draws and --grid at least 1")
    domain = register_sketch_domain()
    started = time.time()
    programs = [visible_part(domain, p) for p in drawable_programs(domain, args.n, BENCHMARK_PROGRAM_SEEDS[args.split])]
    summary = {"benchmark": "sketch_ceiling", "split": args.split, "n": len(programs), "draws": args.draws,
               "seed": args.seed, "success": "IoU >= 0.9 of the >0.5 masks with the truth, as sketch_rate.py"}
    if args.sigma_circles > 0:
        summary["measured_sigma"] = {s: measured_sigma(domain, STYLES[s], args.sigma_circles, args.seed)
                                     for s in styles}
    for style_name in styles:
        style = STYLES[style_name]
        grid = angle_scale_grid(style, n_angle, n_scale)
        for sigma in sigmas:
            rng = np.random.default_rng(args.seed)
            rows = []
            for text in tqdm(programs, desc=f"{style_name}, sigma {sigma}", file=sys.stderr):
                prims = [Primitive(m) for m in PRIMITIVE.finditer(text)]
                n_points = sum(p.points.shape[1] for p in prims)
                kernel = shift_kernel(style, sigma / math.sqrt(n_points))
                for _ in range(args.draws):
                    rows.append((len(prims), *read_drawing(domain, text, prims, grid, kernel, sigma, style, rng)))
            shapes = np.array([r[0] for r in rows])
            ceiling, probable = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
            summary[f"{style_name}@sigma={sigma}"] = {
                "pct_ceiling": round(100 * float(ceiling.mean()), 1),
                "pct_most_probable": round(100 * float(probable.mean()), 1),
                "pct_ceiling_by_shapes_shown": {str(k): round(100 * float(ceiling[shapes == k].mean()), 1)
                                                for k in sorted(set(shapes.tolist()))},
                "median_candidates": int(np.median([r[3] for r in rows]))}
    summary["programs_by_shapes_shown"] = {str(k): sum(1 for p in programs if len(PRIMITIVE.findall(p)) == k)
                                           for k in range(1, 5)}
    summary["wall_seconds"] = round(time.time() - started, 1)
    print_summary(summary, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
