"""Cost of the pen's direction in the sketch answer's choice (`sketch.detail_outline_score`,
`treediff.stroke_direction`): a shortlist scored on the drawing's 256 px centre line with the
direction term, against the same shortlist scored on distance alone, in the same run. Also
the cost of checking the shortlist for programs that trace the wobble with a near copy of
a shape (`sketch.traces_wobble`, at the model's 64 px as search checks), against the same
scoring with the direction.

    python benchmarks/choice_speed.py                       # a readable table
    python benchmarks/choice_speed.py --json --drawings 8 --candidates 40 --seed 0

Each drawing is a held-out-style simulated sketch of a random program, read as `treediff
solve --sketch` reads it; its shortlist is the truth and programs a digit or an edit away
(`verifier_data.near_misses`), the kind of programs a search's 40 best are. The two ways
alternate per drawing, each with the score memo and the registration memo emptied first,
so each pays for its own registrations. Times are seconds of this single-threaded process.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from treediff import sketch, sketch_registration  # noqa: E402
from treediff.noise import Mutator  # noqa: E402
from treediff.preprocess import read_sketch  # noqa: E402
from treediff.sampler import Sampler  # noqa: E402
from treediff.utils import print_summary, run_script  # noqa: E402
from treediff.verifier_data import near_misses  # noqa: E402


def shortlists(domain, drawings: int, candidates: int, seed: int) -> list:
    """[(centre line at 256 px, [candidate renders at 256 px], [candidate programs])]."""
    rng = random.Random(seed)
    sampler, mutator = Sampler(domain.grammar), Mutator(domain.grammar)
    out = []
    for k in range(drawings):
        truth = sampler.sample_program(rng, 1, 4)
        drawing = sketch.sketch_program(domain, truth, 256, np.random.default_rng(seed * 1000 + k),
                                        sketch.HELDOUT_STYLE)
        skeleton = read_sketch(1.0 - drawing, 64, frame="canvas").skeleton
        programs = {domain.grammar.unparse(truth): truth}
        for m in near_misses(domain.grammar, mutator, truth, rng):
            programs.setdefault(domain.grammar.unparse(m), m)
        kept = [(domain.render(p, 256), p) for p in list(programs.values())[:candidates]]
        kept = [(r, p) for r, p in kept if r.max() > 0.5]
        out.append((skeleton, [r for r, _ in kept], [p for _, p in kept]))
    return out


def time_scores(skeleton, renders, weight: float) -> float:
    sketch.DIRECTION_WEIGHT = weight
    sketch._DETAIL_SCORES.clear()
    sketch._DETAIL_CACHE.clear()
    sketch_registration._MEMO.clear()
    t0 = time.process_time()
    for render in renders:
        sketch.detail_outline_score(skeleton, render)
    return time.process_time() - t0


def time_wobble_check(domain, programs) -> float:
    t0 = time.process_time()
    for node in programs:
        sketch.traces_wobble(domain.grammar, node, lambda sub: domain.render(sub, domain.model_size))
    return time.process_time() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drawings", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=40, help="programs in each shortlist (the search's 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    domain = sketch.register_sketch_domain()
    shipped = sketch.DIRECTION_WEIGHT
    work = shortlists(domain, args.drawings, args.candidates, args.seed)
    plain, with_direction, wobble = [], [], []
    for k, (skeleton, renders, programs) in enumerate(tqdm(work, desc="shortlists", file=sys.stderr)):
        order = (0.0, shipped) if k % 2 == 0 else (shipped, 0.0)  # alternate which runs first
        for weight in order:
            (with_direction if weight else plain).append(time_scores(skeleton, renders, weight))
        wobble.append(time_wobble_check(domain, programs))
    sketch.DIRECTION_WEIGHT = shipped
    summary = {"benchmark": "choice_speed", "drawings": len(work),
               "candidates_per_shortlist": round(statistics.mean(len(r) for _, r, _ in work), 1),
               "seconds_per_shortlist_distance_only": round(statistics.mean(plain), 3),
               "seconds_per_shortlist_with_direction": round(statistics.mean(with_direction), 3),
               "ratio": round(sum(with_direction) / sum(plain), 2), "direction_weight": shipped,
               "milliseconds_per_shortlist_wobble_check": round(1000 * statistics.mean(wobble), 2),
               "wobble_check_share_of_scoring": round(sum(wobble) / sum(with_direction), 5)}
    print_summary(summary, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
