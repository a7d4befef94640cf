"""How often can a drawing of one shape tell that shape from its neighbours on the grid?

    python benchmarks/sketch_ambiguity.py --json [--n 100] [--styles train,heldout,heldout-untransformed]

A diagnostic for the sketch benchmark (`sketch_rate.py`), with search taken out: each of
`n` one-shape CSG2D programs (`sketch.drawable_programs`, a seed nothing trains or
benchmarks on) is drawn by the simulator in each style at 256 px and preprocessed as the
benchmark does, and the candidates are the true program and every program one or two
numbers a digit away (position and size; the quad's angle letter stays). Three choosers
pick one candidate:

* ``goal``: the best registered outline score, what the sketch search maximises;
* ``verifier``: the answer `treediff solve --sketch` gives among its best programs (the
  shipped verifier's logit plus its weight times the objective, `Domain.rerank`);
* ``as_drawn``: the smallest outline distance without registration (the drawing taken
  to lie exactly on the canvas grid);
* ``goal_on_detail`` and ``verifier_on_detail``: the goal's score measured on the pen's
  centre line at 256 px (`preprocess.read_sketch`, `sketch.detail_outline_score`) instead
  of the 64 px drawing, alone and in the verifier's choice (what `treediff solve --sketch`
  does since session 16).

Printed per style: the % of drawings whose chosen program's clean render reaches IoU >= 0.9
with the truth (the benchmark's success), and the % where some program below that IoU is
closer to the drawing than the truth under the goal. With a perfect search this is the
most a chooser of that kind gets right on one-shape drawings: the whole drawing's turn,
scale and shift (wider in the held-out style) and a shape's own position and size are
interchangeable, and for a small or thin shape one digit is already below IoU 0.9.
``heldout-untransformed`` is the held-out drawings without that transform.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from treediff.errors import TreediffError
from treediff.utils import print_summary, run_script
from treediff.metrics import iou
from treediff.preprocess import read_sketch
from treediff.sketch import (HELDOUT_STYLE, TRAIN_STYLE, detail_outline_score, drawable_programs, outline_distance,
                             outline_score, register_sketch_domain, sketch_program, without_transform)

STYLES = {"train": TRAIN_STYLE, "heldout": HELDOUT_STYLE, "heldout-untransformed": without_transform(HELDOUT_STYLE)}
PROGRAM_SEED = 2026  # not a benchmark split's (sketch.BENCHMARK_PROGRAM_SEEDS) nor the verifier's training seed
DRAW_SIZE = 256
HEX = "0123456789ABCDEF"


def neighbours(program: str) -> list[str]:
    """Every program that moves one or two of a shape's numbers (not the quad's angle) by one digit."""
    kind, *values = program.strip("()").split()
    numbers = range(4) if kind == "Quad" else range(3)
    out = set()
    for k in (1, 2):
        for positions in itertools.combinations(numbers, k):
            for steps in itertools.product((-1, 1), repeat=k):
                moved = list(values)
                for i, step in zip(positions, steps):
                    digit = HEX.index(moved[i]) + step
                    if not 0 <= digit < 16:
                        break
                    moved[i] = HEX[digit]
                else:
                    out.add(f"({' '.join([kind, *moved])})")
    return sorted(out)


def one_shape_programs(domain, n: int, seed: int) -> list[str]:
    """`n` one-shape programs a person could draw (drawable_programs gives 1-4 shapes in turn)."""
    return [p for p in drawable_programs(domain, 4 * n, seed) if domain.grammar.parse(p).prims == 1][:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--styles", default="train,heldout,heldout-untransformed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawings (the programs are fixed)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    styles = [s for s in args.styles.split(",") if s]
    if not styles or not set(styles) <= set(STYLES):
        raise TreediffError(f"unknown styles {styles}; choices: {', '.join(STYLES)}")
    if args.n < 1:
        raise TreediffError("--n must be at least 1")
    domain = register_sketch_domain()
    grammar, size = domain.grammar, 64
    programs = one_shape_programs(domain, args.n, PROGRAM_SEED)
    started = time.time()
    summary = {"benchmark": "sketch_ambiguity", "n": len(programs), "seed": args.seed,
               "candidates": "the truth and every program one or two numbers a digit away",
               "success": "foreground IoU of >0.5 masks, chosen program vs truth, >= 0.9"}
    for style in styles:
        hits = {"goal": 0, "verifier": 0, "as_drawn": 0, "goal_on_detail": 0, "verifier_on_detail": 0}
        truth_beaten = 0
        for i, program in enumerate(tqdm(programs, desc=f"one-shape drawings, {style}", file=sys.stderr)):
            node = grammar.parse(program)
            drawing = sketch_program(domain, node, DRAW_SIZE, np.random.default_rng(args.seed * 100_003 + i),
                                     STYLES[style])
            reading = read_sketch(1.0 - drawing, size, frame="canvas")
            target = reading.image
            truth = domain.render(node, size)
            # in text order, so that a tie is not settled in the truth's favour
            texts = sorted([program, *neighbours(program)])
            images = [truth if text == program else domain.render(grammar.parse(text), size) for text in texts]
            kept = [j for j, image in enumerate(images) if (image > 0.5).any()]
            images = [images[j] for j in kept]
            side = reading.skeleton.shape[0]
            fine = np.array([detail_outline_score(reading.skeleton, domain.render_text(texts[j], side)) for j in kept])
            ious = np.array([iou(truth, image) for image in images])
            true_score = outline_score(target, truth)
            scores = np.array([outline_score(target, image) for image in images])
            objectives = scores - domain.complexity_penalty  # one shape each
            picks = {"goal": int(np.argmax(scores)),
                     "verifier": int(np.argmax(domain.rerank(target, images, list(objectives)))),
                     "as_drawn": int(np.argmin([outline_distance(target, image) for image in images])),
                     "goal_on_detail": int(np.argmax(fine)),
                     "verifier_on_detail": int(np.argmax(domain.rerank(target, images,
                                                                        list(fine - domain.complexity_penalty))))}
            for chooser, pick in picks.items():
                hits[chooser] += bool(ious[pick] >= 0.9)
            truth_beaten += bool((scores[ious < 0.9] > true_score).any())
        summary[style] = {**{f"pct_iou90_{c}": round(100.0 * h / len(programs), 1) for c, h in hits.items()},
                          "pct_truth_beaten_by_goal": round(100.0 * truth_beaten / len(programs), 1)}
    summary["wall_seconds"] = round(time.time() - started, 1)
    print_summary(summary, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
