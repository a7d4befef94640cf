"""Single-threaded throughput of the data pipeline: sampling, noising, reverse paths, renders.

    python benchmarks/throughput.py                 # a readable table
    python benchmarks/throughput.py --json          # one JSON object on stdout
    python benchmarks/throughput.py --seconds 5 --seed 1

Every figure is "items per second" on one thread (OMP/MKL/OpenBLAS threads are pinned to 1
before numpy loads). An *example* is one training pair: sample a target, add forward
noise, compute the full reverse path, pick a step uniformly, and render both the target
and the program at that step (64 px unless the key says 128).

The reference figures (design.md section 3) were measured once for the tree-diffusion
reference code on one core of this machine's class of CPU; they are quoted, not
re-measured here, and the ratios divide this run's figures by them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from treediff.domains import get_domain  # noqa: E402
from treediff.noise import Mutator, NoiseConfig  # noqa: E402
from treediff.sampler import Sampler  # noqa: E402

#: Reference figures from design.md section 3 (quoted; not measured by this script).
REFERENCE = {
    "csg2d_pairs_per_s_128": 272.0,  # sample target, noise, reverse path, render both at 128 px
    "csg2d_renders_per_s_128": 1889.0,  # skia
    "csg2d_programs_per_s": 4647.0,
    "tinysvg_pairs_per_s_before_render": 1000.0 / 14.0,  # ~14 ms per pair before rendering
}
#: Which of this run's figures each reference figure is compared with.
COMPARED = {
    "csg2d_pairs_per_s_128": "examples_per_s_csg2d_128",
    "csg2d_renders_per_s_128": "renders_per_s_csg2d_128",
    "csg2d_programs_per_s": "samples_per_s_csg2d",
    "tinysvg_pairs_per_s_before_render": "pairs_per_s_tinysvg_before_render",
}
TARGET_RATIO = 3.0


def rate(step, seconds: float, min_calls: int = 3) -> tuple[float, float]:
    """Calls of `step()` per wall-clock second and per CPU second of this process, run for
    about `seconds` (after one warm-up call). On a busy machine the CPU-time rate is what
    the code costs; the wall-clock rate is what this run got."""
    step()
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= min_calls:
            return calls / elapsed, calls / max(time.process_time() - cpu_start, 1e-9)


class Pipeline:
    """The pieces of one domain, and one step function per measurement."""

    def __init__(self, name: str, seed: int, pool: int = 256):
        self.domain = get_domain(name)
        d = self.domain
        self.grammar = d.grammar
        self.sampler = Sampler(self.grammar)
        self.mutator = Mutator(self.grammar, NoiseConfig(min_primitives=d.min_primitives,
                                                         max_primitives=d.max_primitives))
        self.rng = random.Random(seed)
        # Renders are measured over a fixed pool of target-sized programs, cycled through.
        self.programs = [self.sample() for _ in range(pool)]
        self._next = 0

    def sample(self):
        d = self.domain
        return self.sampler.sample_program(self.rng, d.min_primitives, d.max_primitives)

    def render_step(self, size: int):
        def step():
            self.domain.render(self.programs[self._next % len(self.programs)], size)
            self._next += 1
        return step

    def pair(self):
        """Target, noisy program, reverse path, and the program at a uniformly chosen step."""
        g = self.grammar
        clean = self.sample()
        noisy = self.mutator.add_noise(self.rng, clean)
        path = self.mutator.reverse_path(noisy, clean)
        current = noisy
        for edit in path[:self.rng.randrange(len(path))] if path else ():
            current = edit.apply(g, current)
        return clean, current

    def example_step(self, size: int):
        def step():
            clean, current = self.pair()
            self.domain.render(clean, size)
            self.domain.render(current, size)
        return step


def measure(seconds: float, seed: int) -> tuple[dict, dict]:
    """(wall-clock rates, CPU-time rates), keyed alike."""
    csg = Pipeline("csg2d", seed)
    svg = Pipeline("tinysvg", seed)
    out = {
        "renders_per_s_csg2d_64": rate(csg.render_step(64), seconds),
        "renders_per_s_csg2d_128": rate(csg.render_step(128), seconds),
        "renders_per_s_tinysvg_64": rate(svg.render_step(64), seconds),
        "renders_per_s_tinysvg_128": rate(svg.render_step(128), seconds),
        "samples_per_s_csg2d": rate(csg.sample, seconds),
        "samples_per_s_tinysvg": rate(svg.sample, seconds),
        "pairs_per_s_csg2d_before_render": rate(csg.pair, seconds),
        "pairs_per_s_tinysvg_before_render": rate(svg.pair, seconds),
        "examples_per_s_csg2d": rate(csg.example_step(64), seconds),
        "examples_per_s_csg2d_128": rate(csg.example_step(128), seconds),
        "examples_per_s_tinysvg": rate(svg.example_step(64), seconds),
    }
    return ({key: round(wall, 1) for key, (wall, _) in out.items()},
            {key: round(cpu, 1) for key, (_, cpu) in out.items()})


def report(figures: dict, cpu_figures: dict, seconds: float, seed: int) -> dict:
    ratios = {ref: round(figures[ours] / REFERENCE[ref], 2) for ref, ours in COMPARED.items()}
    cpu_ratios = {ref: round(cpu_figures[ours] / REFERENCE[ref], 2) for ref, ours in COMPARED.items()}
    return {
        **figures,
        "per_cpu_second": cpu_figures,
        "reference": {
            "note": "quoted from design.md section 3: the tree-diffusion reference code measured on one "
                    "core of this machine's class of CPU; not re-measured in this run",
            **{key: round(value, 1) for key, value in REFERENCE.items()},
        },
        "ratio_vs_reference": ratios,
        "compared_as": COMPARED,
        "target_ratio": TARGET_RATIO,
        "meets_target": all(r >= TARGET_RATIO for r in ratios.values()),
        "ratio_vs_reference_per_cpu_second": cpu_ratios,
        "meets_target_per_cpu_second": all(r >= TARGET_RATIO for r in cpu_ratios.values()),
        "threads": 1,
        "seconds_per_measurement": seconds,
        "seed": seed,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def print_table(result: dict) -> None:
    print("treediff throughput, one thread (items per second)")
    print(f"  {'':36s} {'wall clock':>12s} {'per CPU s':>12s}")
    for key, value in result.items():
        if isinstance(value, float) and "_per_s_" in key:
            print(f"  {key:36s} {value:12,.1f} {result['per_cpu_second'][key]:12,.1f}")
    print()
    print("reference figures (quoted from design.md section 3, measured earlier for the reference code")
    print("on one core of this machine's class of CPU; NOT re-measured in this run):")
    print(f"  {'reference':36s} {'reference/s':>12s} {'this run/s':>12s} {'ratio':>7s} {'per CPU s':>9s}"
          f"  compared with")
    for ref, ours in result["compared_as"].items():
        print(f"  {ref:36s} {REFERENCE[ref]:12,.1f} {result[ours]:12,.1f} "
              f"{result['ratio_vs_reference'][ref]:6.2f}x {result['ratio_vs_reference_per_cpu_second'][ref]:8.2f}x"
              f"  {ours}")
    verdict = "meets" if result["meets_target"] else "MISSES"
    cpu_verdict = "meets" if result["meets_target_per_cpu_second"] else "MISSES"
    print(f"target: {result['target_ratio']:g}x the reference on every line: wall clock {verdict}, "
          f"per CPU second {cpu_verdict}")
    before, after = result["load_average_1min"]
    print(f"load average during the run: {before:g} -> {after:g} on {result['cpus']} CPUs "
          f"(this benchmark adds 1; above {result['cpus']}, processes were queueing for a CPU)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0, help="time budget per measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args(argv)
    if args.seconds <= 0:
        ap.error("--seconds must be positive")
    load_before = os.getloadavg()[0]
    result = report(*measure(args.seconds, args.seed), args.seconds, args.seed)
    # Other processes on the machine slow every figure down; say how busy it was.
    result["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
