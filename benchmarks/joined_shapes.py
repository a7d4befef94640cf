"""Clean drawings of a circle joined to a box, as a person draws them: how often sketch search answers the picture.

The sketch benchmark (`sketch_rate.py`) draws programs on the CSG2D grid. A person drawing
a circle and a box that overlap draws the one outline of their union, at whatever sizes
and places the hand gives: off the grid. Each drawing here is such an outline, drawn clean
(a 5 px pen on an 800 x 600 picture, no wobble): a circle, and a box overlapping its right
side or one of its corners, sizes and places drawn from the seed. Each is solved as
`treediff solve` solves a photo (read cropped to the drawing, the shipped sketch model,
1,000 programs by default), twice in the same run: as shipped, and without the fits that read a
circle joined to the rest of its region (`csg2d_repair._joined_to_circle`), the ablation.

A drawing counts as answered when the answer's render covers what the drawn outline
encloses: IoU >= 0.9 at 64 px between the render, as it lies, and the region inside the
pen's centre line (the reading's skeleton at 256 px, holes filled, shrunk), both in the
reading's frame. A drawing off the grid has no exact program, and the search registers a
drawing up to a small turn, scale and shift, so an answer a digit off in place or size
can fall under 0.9; the mean IoU is printed too. (Measured up to such a transform instead,
one box over the whole blob often passed.) Also printed: how many answers join a circle
and a quad, and the median seconds per search.

    python benchmarks/joined_shapes.py --json
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion, binary_fill_holes
from tqdm import tqdm

import treediff.renderers.csg2d_repair as csg2d_repair
from treediff.metrics import iou
from treediff.preprocess import read_sketch
from treediff.search import SearchConfig, Searcher, repair_start
from treediff.sketch import register_sketch_domain
from treediff.utils import print_summary, run_script

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from sketch_rate import load_model  # noqa: E402

WIDTH, HEIGHT, PEN = 800, 600, 5
PAPER, INK = 250, 40


def joined_drawing(rng: np.random.Generator) -> np.ndarray:
    """An 8-bit grey picture: the outline of a circle joined to a box that overlaps it, on
    its right side or (one time in three) on a corner of the box."""
    region = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(region)
    r = rng.uniform(70, 140)
    cx, cy = rng.uniform(250, 400), rng.uniform(220, 380)
    w, h = rng.uniform(120, 260), rng.uniform(100, 220)
    if rng.random() < 1 / 3:  # the circle on the box's top left corner
        bx, by = cx + w / 2 - r * rng.uniform(0.2, 0.6), cy + h / 2 - r * rng.uniform(0.2, 0.6)
    else:  # the box out of the circle's right side
        bx, by = cx + r * rng.uniform(0.4, 1.0) + w / 2 * rng.uniform(0.2, 0.8), cy + rng.uniform(-60, 60)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    draw.rectangle((bx - w / 2, by - h / 2, bx + w / 2, by + h / 2), fill=255)
    inside = np.asarray(region) > 0
    return np.where(inside & ~binary_erosion(inside, iterations=PEN), INK, PAPER).astype(np.uint8)


JOINED = re.compile(r"^\(\+ (\(Circle [^()]*\) \(Quad [^()]*\)|\(Quad [^()]*\) \(Circle [^()]*\))\)$")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="drawings")
    parser.add_argument("--budget", type=int, default=1000, help="programs per search (treediff solve's default)")
    parser.add_argument("--seed", type=int, default=0, help="draws the drawings and seeds each search")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    domain = register_sketch_domain()
    model, _, path = load_model(None, domain)
    searcher = Searcher(domain, model)
    rng = np.random.default_rng(args.seed)
    drawings = [joined_drawing(rng) for _ in range(args.n)]
    shipped_reading = csg2d_repair._joined_to_circle
    started = time.time()
    summary = {"benchmark": "joined_shapes", "checkpoint": str(path), "n": args.n, "seed": args.seed, "budget": args.budget,
               "success": "IoU >= 0.9 at 64 px, the answer's render vs the region the pen's centre line encloses"}
    for name, reading in [("shipped", shipped_reading), ("without_joined_fits", lambda region, cx, cy, r: [])]:
        csg2d_repair._joined_to_circle = reading
        ious, joined, seconds, answers = [], 0, [], []
        for i, picture in enumerate(tqdm(drawings, desc=name, file=sys.stderr)):
            sketch = read_sketch(picture, searcher.image_size)
            size = searcher.image_size
            enclosed = Image.fromarray(binary_fill_holes(sketch.skeleton).astype(np.uint8) * 255)
            enclosed = np.asarray(enclosed.resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255.0
            cfg = SearchConfig(budget=args.budget, repair_after=repair_start(args.budget))
            result = searcher.search(sketch.image, cfg, seed=args.seed + i, detail=sketch.skeleton)
            render = domain.render(domain.grammar.parse(result.program), size)
            ious.append(iou(enclosed, render))
            joined += bool(JOINED.match(result.program))
            seconds.append(result.seconds)
            answers.append(result.program)
        summary[name] = {"pct_answered": round(100.0 * sum(v >= 0.9 for v in ious) / args.n, 1),
                         "mean_iou": round(statistics.mean(ious), 4),
                         "pct_circle_joined_to_quad": round(100.0 * joined / args.n, 1),
                         "median_seconds": round(statistics.median(seconds), 2), "answers": answers,
                         "ious": [round(v, 3) for v in ious]}
    csg2d_repair._joined_to_circle = shipped_reading
    summary["wall_seconds"] = round(time.time() - started, 1)
    print_summary(summary, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
