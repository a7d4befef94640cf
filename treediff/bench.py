"""`treediff bench`: % solved vs node budget for tree diffusion, its ablations and the baselines.

Methods (each searches a target picture under a budget of distinct programs rendered):

* ``td``          tree diffusion, value-ranked beam search (`Searcher.search`, rank="value")
* ``td-rollout``  tree diffusion without search (`Searcher.rollout`)
* ``td-novalue``  tree diffusion, beam search ranked by policy log-probability (rank="logprob")
* ``td-norepair`` tree diffusion search without the domain's hand-written proposals: no residual
  repairs (Domain.repairs), no greedy fit of the target (Domain.fits)
* ``td-nofit``    tree diffusion search without the greedy fit of the target (SearchConfig.fit_start)
* ``td-ar``       tree diffusion search started from CSGNet's first programs (greedy, then beam)
  instead of random ones, as the reference seeds its search with autoregressive samples;
  every seed program counts as a node
* ``csgnet``      CSGNet: greedy, beam, then random samples (`baselines/csgnet.py`)
* ``repl``        REPL Flow sampled rollouts, CSG2D only (`baselines/repl.py`)
* ``hillclimb``   random-mutation hill climbing with the same mutator (`baselines/hillclimb.py`)

No method's behaviour depends on the budget except where it stops, so each (method, seed,
problem) runs once, to the largest budget, and counts as solved at budget b iff it was
solved with ``nodes_expanded <= b``. Each run is appended to a JSON-lines file as soon as
it finishes; a rerun skips the runs already recorded (resume), ``--shard i/N`` runs every
N-th problem from the i-th, and ``treediff bench merge`` combines the files of shards.
Outputs: ``results*.jsonl`` (one line per run), ``summary.json``, ``table.md`` and
``solve_rate.png`` (% solved vs nodes expanded, log x, mean and std band over seeds).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .domains import Domain, get_domain
from .errors import TreediffError
from .metrics import program_metrics
from .utils import atomic_write_text

METHODS = ("td", "td-rollout", "td-novalue", "td-norepair", "td-nofit", "td-undo", "td-ar", "csgnet", "repl", "hillclimb")
BASELINES = ("csgnet", "repl", "hillclimb")
DEFAULT_BUDGETS = (1, 10, 100, 500, 1000, 5000)
TEST_SET_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "testsets"

#: A method: (target image, budget, seed) -> dict(program, solved, score, nodes_expanded, seconds).
Runner = Callable[[np.ndarray, int, int], dict]


@dataclass
class BenchConfig:
    domain: str = "csg2d"
    methods: tuple[str, ...] = ("td",)
    n: int | None = None  # first n problems of the test set (default: all)
    seeds: int = 3
    budgets: tuple[int, ...] = DEFAULT_BUDGETS
    out: str | None = None  # folder for results*.jsonl, summary.json, table.md, solve_rate.png
    shard: tuple[int, int] = (0, 1)
    test_set: str | None = None
    checkpoint: str | None = None  # tree diffusion (default: the shipped model)
    csgnet_checkpoint: str | None = None
    repl_checkpoint: str | None = None
    undo_checkpoint: str | None = None  # td-undo: a model trained with --targets undo
    beam: int = 16
    edits_per_node: int = 4
    ar_seeds: int = 8  # td-ar: programs taken from CSGNet to start the search
    device: str = "cpu"


# ------------------------------------------------------------------ parsing user input
def parse_methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    if not methods:
        raise TreediffError(f"--methods is empty; choices: {', '.join(METHODS)}")
    for m in methods:
        if m not in METHODS:
            raise TreediffError(f"unknown method '{m}'; choices: {', '.join(METHODS)}")
    if len(set(methods)) != len(methods):
        raise TreediffError(f"--methods lists a method twice: {text}")
    return methods


def parse_budgets(text: str) -> tuple[int, ...]:
    try:
        budgets = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise TreediffError(f"--budgets must be comma-separated integers, e.g. 1,10,100 (got '{text}')") from None
    if any(b < 1 for b in budgets):
        raise TreediffError(f"--budgets must be positive (got '{text}')")
    if any(b >= c for b, c in zip(budgets, budgets[1:])):
        raise TreediffError(f"--budgets must be strictly increasing (got '{text}')")
    return budgets


def parse_shard(text: str) -> tuple[int, int]:
    parts = text.split("/")
    try:
        i, n = int(parts[0]), int(parts[1])
        if len(parts) != 2 or n < 1 or not 0 <= i < n:
            raise ValueError
    except (ValueError, IndexError):
        raise TreediffError(f"malformed --shard '{text}': expected i/N with 0 <= i < N, e.g. 0/4") from None
    return i, n


def load_problems(domain: Domain, test_set: str | None, n: int | None) -> list[str]:
    """The fixed test set (default: benchmarks/testsets/<domain>_256.txt), its first `n` programs."""
    from .testsets import load_test_set, make_test_set

    if test_set is not None:
        problems = load_test_set(test_set)
    elif (TEST_SET_DIR / f"{domain.name}_256.txt").exists():
        problems = load_test_set(TEST_SET_DIR / f"{domain.name}_256.txt")
    else:  # a domain without a committed test set: a fixed generated one
        problems = make_test_set(domain.name, n or 256, seed=0)
    if n is not None:
        if n < 1:
            raise TreediffError(f"--n must be positive (got {n})")
        if n > len(problems):
            raise TreediffError(f"--n {n} is more than the {len(problems)} problems of the test set")
        problems = problems[:n]
    return problems


# ------------------------------------------------------------------ methods
def make_runner(method: str, domain: Domain, cfg: BenchConfig) -> Runner:
    """The search function of one method, with its network loaded (a missing checkpoint is a clear error)."""
    if method in ("td", "td-rollout", "td-novalue", "td-norepair", "td-nofit"):
        from .solve import load_searcher

        searcher = load_searcher(domain.name, cfg.checkpoint, cfg.device)
        return td_runner(searcher, method, cfg.beam, cfg.edits_per_node)
    if method == "td-ar":
        from .seeding import load_seeder
        from .solve import load_searcher

        return td_runner(load_searcher(domain.name, cfg.checkpoint, cfg.device), "td", cfg.beam,
                         cfg.edits_per_node, seeder=load_seeder(domain, cfg.csgnet_checkpoint, cfg.device),
                         n_seeds=cfg.ar_seeds)
    if method == "td-undo":
        return td_runner(load_undo_searcher(domain, cfg.undo_checkpoint, cfg.device), "td", cfg.beam,
                         cfg.edits_per_node)
    if method == "hillclimb":
        from .baselines.hillclimb import HillClimber

        return _baseline_runner(HillClimber(domain))
    if method == "csgnet":
        from .baselines.csgnet import CSGNetSearcher, load_csgnet

        return _baseline_runner(CSGNetSearcher(domain, load_csgnet(domain, cfg.csgnet_checkpoint, cfg.device)))
    if method == "repl":
        from .baselines.repl import REPLSearcher, load_repl

        return _baseline_runner(REPLSearcher(domain, load_repl(domain, cfg.repl_checkpoint, cfg.device)))
    raise TreediffError(f"unknown method '{method}'; choices: {', '.join(METHODS)}")


def load_undo_searcher(domain: Domain, checkpoint: str | None, device: str):
    """The ablation model trained to undo the last mutation (shipped beside the baselines)."""
    from .checkpoint import read_metadata
    from .solve import load_searcher

    path = Path(checkpoint) if checkpoint else \
        Path(__file__).resolve().parent / "checkpoints" / "baselines" / f"{domain.name}-undo.safetensors"
    if not path.exists():
        raise TreediffError(f"no undo-ablation model at {path}; train one with 'treediff train --domain "
                            f"{domain.name} --targets undo --out runs/{domain.name}-undo' and pass --undo-checkpoint")
    targets = read_metadata(path).get("train_config", {}).get("targets", "reverse")
    if targets != "undo":
        raise TreediffError(f"{path} was trained with --targets {targets}, td-undo needs --targets undo")
    return load_searcher(domain.name, str(path), device)


def shipped_td_method(domain: Domain) -> str:
    """The tree-diffusion search `treediff solve` runs for this domain: ``td-ar`` where a
    shipped autoregressive model fits its grammar (CSG2D), else ``td``."""
    from .seeding import shipped_seeder

    return "td-ar" if shipped_seeder(domain) is not None else "td"


def td_runner(searcher, method: str, beam: int = 16, edits_per_node: int = 4, seeder=None,
              n_seeds: int = 8) -> Runner:
    """Tree diffusion as a bench method: ``td`` (value), ``td-novalue`` (log-prob), ``td-norepair``
    (no residual repairs or greedy fit), ``td-nofit`` (no greedy fit), ``td-rollout`` (no search); with `seeder` (a
    seeding.ARSeeder) the search starts from its first `n_seeds` programs."""
    from .search import SearchConfig
    from .seeding import seeded_search

    def run(target: np.ndarray, budget: int, seed: int) -> dict:
        if method == "td-rollout":
            r = searcher.rollout(target, budget, seed=seed)
        else:
            cfg = SearchConfig(budget=budget, beam=beam, edits_per_node=edits_per_node,
                               rank="logprob" if method == "td-novalue" else "value",
                               repair=method != "td-norepair",
                               fit_start=method not in ("td-norepair", "td-nofit"))
            r = seeded_search(searcher, target, cfg, seed, seeder, n_seeds)
        return {"program": r.program, "solved": r.solved, "score": r.score, "nodes_expanded": r.nodes_expanded,
                "seconds": r.seconds}

    return run


def _baseline_runner(searcher) -> Runner:
    def run(target: np.ndarray, budget: int, seed: int) -> dict:
        r = searcher.search(target, budget, seed=seed)
        return {"program": r.program, "solved": r.solved, "score": r.score, "nodes_expanded": r.nodes_expanded,
                "seconds": r.seconds}

    return run


# ------------------------------------------------------------------ records
def record_key(rec: dict) -> tuple:
    return rec["domain"], rec["method"], rec["seed"], rec["problem"]


def read_records(paths) -> list[dict]:
    """Runs from JSON-lines files or folders of them; a half-written last line (killed run) is skipped."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.jsonl"))
        elif p.suffix == ".jsonl":
            if not p.exists():
                raise TreediffError(f"results file not found: {p}")
            files.append(p)
        elif not p.exists():
            raise TreediffError(f"results file not found: {p}")
    records = []
    for f in files:
        for line in f.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and {"domain", "method", "seed", "problem", "solved"} <= rec.keys():
                records.append(rec)
    return records


def dedupe(records: list[dict]) -> list[dict]:
    """One record per (domain, method, seed, problem): the one run to the largest budget."""
    best: dict[tuple, dict] = {}
    for rec in records:
        key = record_key(rec)
        if key not in best or rec.get("max_budget", 0) > best[key].get("max_budget", 0):
            best[key] = rec
    return list(best.values())


def _append(path: Path, rec: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        if f.tell() > 0:  # a killed run may have left half a line: start on a fresh one
            with open(path, "rb") as r:
                r.seek(-1, 2)
                if r.read(1) != b"\n":
                    f.write(b"\n")
        f.write((json.dumps(rec) + "\n").encode())
        f.flush()


def results_path(out: Path, shard: tuple[int, int]) -> Path:
    return out / ("results.jsonl" if shard[1] == 1 else f"results-{shard[0]}of{shard[1]}.jsonl")


# ------------------------------------------------------------------ running
def run_bench(cfg: BenchConfig, runners: dict[str, Runner] | None = None, progress: bool = True) -> dict:
    """Run every (method, seed, problem) of this shard not yet recorded; return the summary.

    `runners` overrides how methods search (tests pass tiny models); by default each
    method's network is loaded by `make_runner`.
    """
    domain = get_domain(cfg.domain)
    for m in cfg.methods:
        if m not in METHODS:
            raise TreediffError(f"unknown method '{m}'; choices: {', '.join(METHODS)}")
    if cfg.seeds < 1:
        raise TreediffError(f"--seeds must be positive (got {cfg.seeds})")
    problems = load_problems(domain, cfg.test_set, cfg.n)
    index, count = cfg.shard
    mine = list(range(index, len(problems), count))
    if not mine:
        raise TreediffError(f"shard {index}/{count} is empty: the test set has only {len(problems)} problem(s)")
    max_budget = cfg.budgets[-1]
    out = Path(cfg.out) if cfg.out else None
    done: dict[tuple, dict] = {}
    if out is not None and out.exists():
        for rec in dedupe(read_records([out])):
            if rec["domain"] != domain.name or rec.get("max_budget", 0) < max_budget:
                continue
            if rec["problem"] < len(problems) and rec.get("target") != problems[rec["problem"]]:
                raise TreediffError(f"{out} holds results for a different test set (problem {rec['problem']} "
                                    f"differs); use another --out")
            done[record_key(rec)] = rec
    todo = [(m, s, p) for m in cfg.methods for s in range(cfg.seeds) for p in mine
            if (domain.name, m, s, p) not in done]
    runners = dict(runners or {})
    for m in cfg.methods:  # load every network first: a missing checkpoint fails before any work
        if m not in runners and any(t[0] == m for t in todo):
            runners[m] = make_runner(m, domain, cfg)
    targets: dict[int, np.ndarray] = {}
    records = [done[(domain.name, m, s, p)] for m in cfg.methods for s in range(cfg.seeds) for p in mine
               if (domain.name, m, s, p) in done]
    from tqdm import tqdm

    path = results_path(out, cfg.shard) if out is not None else None
    with tqdm(total=len(todo), desc="bench", unit="run", file=sys.stderr, disable=not progress) as bar:
        for m, s, p in todo:
            if p not in targets:
                targets[p] = domain.render_text(problems[p]).astype(np.float32)
            target = targets[p]
            t0 = time.time()
            result = runners[m](target, max_budget, s * 1_000_003 + p)
            rec = {"domain": domain.name, "method": m, "seed": s, "problem": p, "target": problems[p],
                   "max_budget": max_budget, "solved": bool(result["solved"]),
                   "nodes_expanded": int(result["nodes_expanded"]), "program": result["program"],
                   "score": round(float(result["score"]), 5), "seconds": round(time.time() - t0, 3)}
            rec.update(_best_metrics(domain, target, result["program"]))
            records.append(rec)
            if path is not None:
                _append(path, rec)
            bar.update(1)
    summary = summarize(records, cfg.methods, cfg.budgets)
    summary["shard"] = f"{index}/{count}"
    if out is not None and count == 1:
        write_outputs(out, summary, records)
    return summary


def _best_metrics(domain: Domain, target: np.ndarray, program: str) -> dict:
    """IoU and Chamfer of the best program (one-channel domains; None for RGB)."""
    if target.ndim != 2:
        return {"iou": None, "chamfer": None}
    image = domain.render_text(program, target.shape[0]) if program else None
    m = program_metrics(target, image)
    return {"iou": round(m["iou"], 5), "chamfer": round(m["chamfer"], 5)}


# ------------------------------------------------------------------ summaries
def solve_rates(records: list[dict], budgets) -> np.ndarray:
    """% solved at each budget for one method and seed's records: solved with nodes_expanded <= b."""
    nodes = np.array([r["nodes_expanded"] if r["solved"] else math.inf for r in records])
    return np.array([100.0 * np.mean(nodes <= b) for b in budgets])


def _std(values: np.ndarray) -> np.ndarray:
    return values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1:])


def summarize(records: list[dict], methods, budgets) -> dict:
    """Per method: % solved at each budget (mean and sample std over seeds), mean IoU, Chamfer, time."""
    records = dedupe(records)
    out = {"budgets": list(budgets), "methods": {}}
    if records:
        out["domain"] = records[0]["domain"]
    for m in methods:
        mine = [r for r in records if r["method"] == m]
        if not mine:
            continue
        valid_budgets = [b for b in budgets if b <= min(r.get("max_budget", math.inf) for r in mine)]
        seeds = sorted({r["seed"] for r in mine})
        per_seed = np.array([solve_rates([r for r in mine if r["seed"] == s], valid_budgets) for s in seeds])
        mean, std = per_seed.mean(axis=0), _std(per_seed)
        ious = [r["iou"] for r in mine if r.get("iou") is not None]
        chamfers = [r["chamfer"] for r in mine if r.get("chamfer") is not None]
        out["methods"][m] = {
            "solved": {str(b): {"mean": round(float(mu), 2), "std": round(float(sd), 2),
                                "per_seed": [round(float(v), 2) for v in per_seed[:, i]]}
                       for i, (b, mu, sd) in enumerate(zip(valid_budgets, mean, std))},
            "iou": round(float(np.mean(ious)), 4) if ious else None,
            "chamfer": round(float(np.mean(chamfers)), 4) if chamfers else None,
            "seconds_per_problem": round(float(np.mean([r["seconds"] for r in mine])), 3),
            "mean_nodes_expanded": round(float(np.mean([r["nodes_expanded"] for r in mine])), 1),
            "problems": len({r["problem"] for r in mine}),
            "seeds": len(seeds),
            "runs": len(mine),
        }
    return out


def markdown_table(summary: dict) -> str:
    """% solved at each budget (mean ± std over seeds), IoU, Chamfer, seconds per problem."""
    budgets = summary["budgets"]
    head = ["method"] + [str(b) for b in budgets] + ["IoU", "Chamfer", "s/problem", "problems x seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, s in summary["methods"].items():
        cells = [m]
        for b in budgets:
            cell = s["solved"].get(str(b))
            cells.append(f"{cell['mean']:.1f} ± {cell['std']:.1f}" if cell else "-")
        cells += [f"{s['iou']:.3f}" if s["iou"] is not None else "-",
                  f"{s['chamfer']:.2f}" if s["chamfer"] is not None else "-",
                  f"{s['seconds_per_problem']:.2f}", f"{s['problems']} x {s['seeds']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_caption(summary: dict) -> str:
    return (f"% solved on {summary.get('domain', '?')} at each node budget (mean ± std over seeds); "
            f"IoU and Chamfer (CSGNet's, pixels, 16 = no valid program) of each run's best program.")


def plot_solve_rate(records: list[dict], methods, max_budget: int, path: Path, title: str = "") -> None:
    """% solved vs nodes expanded, log x, one line per method with a ±1 std band over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = dedupe(records)
    xs = np.unique(np.round(np.logspace(0, math.log10(max(max_budget, 2)), 80)).astype(int))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for m in methods:
        mine = [r for r in records if r["method"] == m]
        if not mine:
            continue
        seeds = sorted({r["seed"] for r in mine})
        curves = np.array([solve_rates([r for r in mine if r["seed"] == s], xs) for s in seeds])
        mean, std = curves.mean(axis=0), _std(curves)
        ax.plot(xs, mean, label=m)
        ax.fill_between(xs, np.clip(mean - std, 0, 100), np.clip(mean + std, 0, 100), alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlim(1, max(max_budget, 2))
    ax.set_ylim(-1, 101)  # lines at 0 or 100 stay visible
    ax.set_xlabel("nodes expanded (distinct programs rendered)")
    ax.set_ylabel("% solved")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_outputs(out: Path, summary: dict, records: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "table.md", table_caption(summary) + "\n\n" + markdown_table(summary) + "\n")
    methods = list(summary["methods"])
    n = max((s["problems"] for s in summary["methods"].values()), default=0)
    seeds = max((s["seeds"] for s in summary["methods"].values()), default=0)
    plot_solve_rate(records, methods, summary["budgets"][-1], out / "solve_rate.png",
                    f"{summary.get('domain', '')}: {n} problems x {seeds} seeds")


def merge(paths: list[str], out: str | None, budgets=DEFAULT_BUDGETS) -> tuple[dict, Path]:
    """Combine the JSON lines of shards (files or folders) into results.jsonl + summary, table, plot."""
    if not paths:
        raise TreediffError("bench merge needs results files or folders, e.g. treediff bench merge results/*")
    records = dedupe(read_records(paths))
    if not records:
        raise TreediffError(f"no bench results (JSON lines) found in {', '.join(paths)}")
    domains = {r["domain"] for r in records}
    if len(domains) > 1:
        raise TreediffError(f"cannot merge results of different domains: {', '.join(sorted(domains))}")
    first = Path(paths[0])
    out_dir = Path(out) if out else (first if first.is_dir() else first.parent)
    methods = [m for m in METHODS if any(r["method"] == m for r in records)]
    methods += sorted({r["method"] for r in records} - set(methods))
    keep = [b for b in budgets if b <= max(r.get("max_budget", 0) for r in records)]
    summary = summarize(records, methods, keep or budgets)
    records.sort(key=lambda r: (methods.index(r["method"]), r["seed"], r["problem"]))
    atomic_write_text(out_dir / "results.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    write_outputs(out_dir, summary, records)
    return summary, out_dir


# ------------------------------------------------------------------ CLI
def cmd_bench(args) -> int:
    import torch

    torch.set_num_threads(max(1, args.threads))
    budgets = parse_budgets(args.budgets)
    if args.action:
        if args.action[0] != "merge":
            raise TreediffError(f"unknown bench action '{args.action[0]}'; the only action is 'merge' "
                                f"(treediff bench merge results/*)")
        summary, out_dir = merge(args.action[1:], args.out, budgets)
        _report(args, summary, out_dir)
        return 0
    domain = get_domain(args.domain)
    if args.methods:
        methods = parse_methods(args.methods)
    elif args.baseline:
        if args.baseline not in BASELINES:
            raise TreediffError(f"unknown baseline '{args.baseline}'; choices: {', '.join(BASELINES)}")
        methods = (shipped_td_method(domain), args.baseline)
    else:
        methods = (shipped_td_method(domain),)
    from .utils import resolve_device

    cfg = BenchConfig(domain=args.domain, methods=methods, n=args.n, seeds=args.seeds, budgets=budgets,
                      out=args.out or str(Path("treediff-bench") / args.domain),
                      shard=parse_shard(args.shard), test_set=args.test_set, checkpoint=args.checkpoint,
                      csgnet_checkpoint=args.csgnet_checkpoint, repl_checkpoint=args.repl_checkpoint,
                      undo_checkpoint=args.undo_checkpoint,
                      beam=args.beam, edits_per_node=args.edits_per_node, ar_seeds=args.ar_seeds,
                      device=resolve_device(args.device))
    if args.beam < 1 or args.edits_per_node < 1 or args.ar_seeds < 1:
        raise TreediffError("--beam, --edits-per-node and --ar-seeds must be positive")
    summary = run_bench(cfg, progress=not args.quiet)
    _report(args, summary, Path(cfg.out))
    return 0


def _report(args, summary: dict, out_dir: Path) -> None:
    if args.json:
        print(json.dumps(summary))
        return
    print(table_caption(summary))
    print()
    print(markdown_table(summary))
    written = "summary.json, table.md, solve_rate.png" if summary.get("shard", "0/1") == "0/1" else \
        "this shard's JSON lines (merge shards with 'treediff bench merge')"
    print(f"\nresults in {out_dir}/ ({written})", file=sys.stderr)


def add_bench_parser(sub) -> None:
    """Register ``treediff bench`` (and ``treediff bench merge FILES``) on the CLI's subparsers."""
    p = sub.add_parser("bench", help="%% solved vs node budget: tree diffusion, ablations, baselines",
                       description="Run tree diffusion, its ablations and baselines on a fixed test set; "
                                   "'treediff bench merge results/*' combines shards.")
    p.add_argument("action", nargs="*", help="'merge FILES_OR_FOLDERS...' to combine shards' JSON lines")
    p.add_argument("--domain", default="csg2d")
    p.add_argument("--baseline", help=f"compare the shipped search against one baseline ({', '.join(BASELINES)})")
    p.add_argument("--methods", help=f"comma-separated, from: {', '.join(METHODS)} "
                                     "(default: the search treediff solve runs: td-ar on CSG2D, else td)")
    p.add_argument("--n", type=int, help="use the first n problems of the test set (default: all)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)),
                   help="increasing node budgets reported; every run goes to the largest")
    p.add_argument("--out", help="results folder (default: treediff-bench/<domain>; merge: the first input's folder)")
    p.add_argument("--shard", default="0/1", help="run every N-th problem from the i-th: i/N")
    p.add_argument("--test-set",
                   help="test set file, one program a line (default: benchmarks/testsets/<domain>_256.txt)")
    p.add_argument("--checkpoint", help="tree-diffusion checkpoint (default: the shipped model)")
    p.add_argument("--csgnet-checkpoint", help="default: treediff/checkpoints/baselines/csgnet.safetensors")
    p.add_argument("--repl-checkpoint", help="default: treediff/checkpoints/baselines/repl.safetensors")
    p.add_argument("--undo-checkpoint",
                   help="td-undo's model (default: treediff/checkpoints/baselines/<domain>-undo.safetensors)")
    p.add_argument("--beam", type=int, default=16, help="tree-diffusion beam width")
    p.add_argument("--edits-per-node", type=int, default=4)
    p.add_argument("--ar-seeds", type=int, default=8, help="td-ar: CSGNet programs that start the search")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of the table")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_bench)
