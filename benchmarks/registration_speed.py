"""Speed of the sketch goal's registration (`treediff.sketch_registration.register`): the
coarse grid read from precomputed landing tables against computing every landing, in the
same run, on the same drawings and candidates.

    python benchmarks/registration_speed.py                 # a readable table
    python benchmarks/registration_speed.py --json          # one JSON object on stdout
    python benchmarks/registration_speed.py --drawings 8 --candidates 60 --searches 2 --seed 0

Each drawing is a held-out-style simulated sketch (64 px, as the search sees it) of a random
program; its candidates are random programs and small mutations of the truth, the mix a
search scores. Both ways must give the same distance and transform for every candidate,
bit for bit; the script fails if they differ. `--searches K` also times K whole sketch
searches (the shipped model, `--budget` nodes) each way, since registration is most of a
sketch search's time. Times are CPU seconds of this single-threaded process; the tables' own cost
(built once per image size, read once per drawing) is inside the timed registrations and
also printed on its own.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from treediff import sketch_registration  # noqa: E402
from treediff.errors import TreediffError  # noqa: E402
from treediff.noise import Mutator  # noqa: E402
from treediff.sampler import Sampler  # noqa: E402
from treediff.sketch import HELDOUT_STYLE, _stroke_distances, outline_of, register_sketch_domain, sketch_program  # noqa: E402
from treediff.utils import print_summary, run_script  # noqa: E402


@contextlib.contextmanager
def direct_landings():
    """Within the block every landing is computed, as before the tables (the baseline)."""
    kept = sketch_registration.TABLE_MAX_PIXELS
    sketch_registration.TABLE_MAX_PIXELS = 0
    sketch_registration._MEMO.clear()
    try:
        yield
    finally:
        sketch_registration.TABLE_MAX_PIXELS = kept
        sketch_registration._MEMO.clear()


def cases(domain, drawings: int, candidates: int, seed: int):
    """[(drawing at 64 px, [candidate outlines])]: what one search's goal compares."""
    rng = random.Random(seed)
    sampler, mutator = Sampler(domain.grammar), Mutator(domain.grammar)
    out = []
    for k in range(drawings):
        truth = sampler.sample_program(rng, 1, 4)
        drawing = sketch_program(domain.render_engine, truth, 64, np.random.default_rng(seed * 1000 + k), HELDOUT_STYLE)
        programs = [truth]
        while len(programs) < candidates:
            programs.append(mutator.mutate(rng, truth)[0] if len(programs) % 2 else sampler.sample_program(rng, 1, 4))
        outlines = [outline_of(domain.render(p, 64)) for p in programs]
        out.append((drawing, [o for o in outlines if o.any()]))
    return out


def time_setup(work) -> dict:
    """CPU milliseconds of what the tables cost before any candidate: building them for the
    image size (once per process) and reading a drawing's side of them (once per drawing)."""
    sketch_registration._coarse_tables.cache_clear()
    start = time.process_time()
    sketch_registration._coarse_tables(64)
    tables = time.process_time() - start
    start = time.process_time()
    for drawing, _ in work:
        strokes, to_strokes = _stroke_distances(drawing)
        sketch_registration._drawing_side(strokes, to_strokes, ("setup", hash(strokes.tobytes())))
    per_drawing = (time.process_time() - start) / len(work)
    sketch_registration._DRAWING_SIDE.clear()
    return {"ms_tables_once_per_size": round(1000 * tables, 1), "ms_tables_per_drawing": round(1000 * per_drawing, 1)}


def time_registrations(work) -> tuple[float, list]:
    """(CPU seconds, results) for registering every candidate against its drawing."""
    sketch_registration._MEMO.clear()
    sketch_registration._coarse_tables.cache_clear()  # everything the tables cost is inside the timing
    sketch_registration._DRAWING_SIDE.clear()
    results = []
    start = time.process_time()
    for drawing, outlines in work:
        strokes, to_strokes = _stroke_distances(drawing)
        results += [sketch_registration.register(strokes, to_strokes, o) for o in outlines]
    return time.process_time() - start, results


def time_searches(domain, searches: int, budget: int, seed: int) -> dict:
    """Median CPU seconds of whole sketch searches, computing every landing and with tables,
    and whether each pair of searches returned the same program."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sketch_rate import load_model

    from treediff.preprocess import read_sketch
    from treediff.search import SearchConfig, Searcher, repair_start

    model, _, _ = load_model(None, domain)
    searcher = Searcher(domain, model)
    config = SearchConfig(budget=budget, repair_after=repair_start(budget))
    rng = random.Random(seed + 1)
    sampler = Sampler(domain.grammar)
    seconds = {"direct": [], "tables": []}
    same = 0
    for k in tqdm(range(searches), desc="searches", file=sys.stderr, disable=searches == 0):
        truth = sampler.sample_program(rng, 1, 4)
        drawing = sketch_program(domain.render_engine, truth, 256, np.random.default_rng(seed * 1000 + 500 + k),
                                 HELDOUT_STYLE)
        reading = read_sketch(1.0 - drawing, searcher.image_size, frame="canvas")
        programs = {}
        for way in ("direct", "tables"):
            sketch_registration._MEMO.clear()
            sketch_registration._DRAWING_SIDE.clear()
            start = time.process_time()
            with direct_landings() if way == "direct" else contextlib.nullcontext():
                result = searcher.search(reading.image, config, seed=seed + k, detail=reading.skeleton)
            seconds[way].append(time.process_time() - start)
            programs[way] = result.program
        same += programs["direct"] == programs["tables"]
    if not searches:
        return {}
    direct, tables = statistics.median(seconds["direct"]), statistics.median(seconds["tables"])
    return {"searches": searches, "search_budget": budget,
            "search_seconds_direct": round(direct, 2), "search_seconds_tables": round(tables, 2),
            "search_speedup": round(direct / tables, 2), "searches_with_the_same_program": same}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drawings", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=60, help="programs registered per drawing")
    parser.add_argument("--searches", type=int, default=2, help="whole sketch searches timed each way (0: none)")
    parser.add_argument("--budget", type=int, default=1000, help="nodes per timed search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.drawings < 1 or args.candidates < 1 or args.searches < 0 or args.budget < 1:
        raise TreediffError("--drawings, --candidates and --budget must be 1 or more, --searches 0 or more")
    torch.set_num_threads(1)
    domain = register_sketch_domain()
    work = cases(domain, args.drawings, args.candidates, args.seed)
    with direct_landings():
        direct_seconds, direct = time_registrations(work)
    table_seconds, tables = time_registrations(work)
    if direct != tables:
        raise TreediffError("the landing tables changed a registration's result")
    calls = len(tables)
    summary = {
        "registrations": calls,
        "ms_per_registration_direct": round(1000 * direct_seconds / calls, 3),
        "ms_per_registration_tables": round(1000 * table_seconds / calls, 3),
        "speedup": round(direct_seconds / table_seconds, 2),
        "identical_results": True,
        **time_setup(work),
        **time_searches(domain, args.searches, args.budget, args.seed),
        "seed": args.seed,
    }
    print_summary(summary, args.json)
    return 0


if __name__ == "__main__":
    run_script(main)
