"""Solve rate of tree diffusion with search on a fixed CSG2D (or TinySVG) test set.

    python benchmarks/solve_rate.py --domain csg2d --json

Prints % solved at budgets 100, 500 and 2000 nodes expanded (one search per problem to
the largest budget: a problem counts as solved at budget b when it was solved after at
most b distinct programs), the median seconds per solved problem on this machine, and the
shipped model's one-step denoising accuracy on 256 fresh mutations, with the replacement
token loss per terminal (whether the model reads numbers off the image shows there).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from treediff.checkpoint import default_checkpoint, read_metadata
from treediff.metrics import iou
from treediff.noise import NoiseConfig
from treediff.search import SearchConfig
from treediff.seeding import seeded_search, shipped_seeder
from treediff.solve import AR_SEEDS, load_searcher
from treediff.testsets import load_test_set
from treediff.train import evaluate, evaluation_batches, token_loss_by_terminal

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="csg2d")
    parser.add_argument("--checkpoint", help="default: the shipped model for the domain")
    parser.add_argument("--test-set", help="default: benchmarks/testsets/<domain>_64.txt (or _256)")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--budgets", default="100,500,2000")
    parser.add_argument("--beam", type=int, default=SearchConfig.beam)
    parser.add_argument("--edits-per-node", type=int, default=SearchConfig.edits_per_node)
    parser.add_argument("--score-weight", type=float, default=SearchConfig.score_weight)
    parser.add_argument("--temperature", type=float, default=SearchConfig.temperature)
    parser.add_argument("--simplify", action="store_true", help="the polish also tries dropping operands")
    parser.add_argument("--no-repair", action="store_true",
                        help="ablation: no residual repairs (Domain.repairs) and no greedy fit, policy edits and polish only")
    parser.add_argument("--no-fit", action="store_true",
                        help="ablation: no greedy residual fit of the target beside the policy (SearchConfig.fit_start)")
    parser.add_argument("--repair-after", type=int, default=SearchConfig.repair_after,
                        help="programs tried before the residual repairs start")
    parser.add_argument("--complexity-penalty", type=float,
                        help="score the search gives up per primitive (default: the domain's)")
    parser.add_argument("--mode", choices=["search", "rollout"], default="search")
    parser.add_argument("--ar-seeds", type=int, default=AR_SEEDS,
                        help="start each search from this many programs of the shipped autoregressive model, "
                             "as `treediff solve` does (0 = random start programs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--records", action="store_true", help="also print one JSON line per problem (stdout)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    budgets = [int(b) for b in args.budgets.split(",")]
    searcher = load_searcher(args.domain, args.checkpoint)
    domain = searcher.domain
    if args.complexity_penalty is not None:
        domain.complexity_penalty = args.complexity_penalty
    default_set = HERE / "testsets" / f"{domain.name}_64.txt"
    if not default_set.exists():
        default_set = HERE / "testsets" / f"{domain.name}_256.txt"
    programs = load_test_set(args.test_set or default_set)[: args.n]

    info = read_metadata(args.checkpoint or default_checkpoint(domain.name))
    noise_cfg = NoiseConfig(**info.get("noise", {}))
    held_out = evaluation_batches(domain.name, noise_cfg, 256, seed=777)
    one_step = evaluate(searcher.model, held_out, "cpu")
    token_loss = token_loss_by_terminal(searcher.model, held_out, domain.grammar)

    seeder = shipped_seeder(domain) if args.ar_seeds > 0 and args.mode == "search" else None
    records = []
    started = time.time()
    for i, text in enumerate(tqdm(programs, desc=f"solve {domain.name}", file=sys.stderr)):
        target = domain.render(domain.grammar.parse(text), searcher.image_size)
        if args.mode == "rollout":
            result = searcher.rollout(target, max(budgets), seed=args.seed + i)
        else:
            cfg = SearchConfig(budget=max(budgets), beam=args.beam, edits_per_node=args.edits_per_node,
                               score_weight=args.score_weight, temperature=args.temperature,
                               simplify=args.simplify, repair=not args.no_repair,
                               fit_start=not (args.no_repair or args.no_fit),
                               repair_after=args.repair_after)
            result = seeded_search(searcher, target, cfg, args.seed + i, seeder, args.ar_seeds)
        answer = domain.render(domain.grammar.parse(result.program), searcher.image_size)
        # The CSG2D goal also accepts the picture's negative; say how often an answer is one.
        negative = bool(result.solved) and iou(target, 1.0 - answer) > iou(target, answer)
        records.append({"target": text, "solved": result.solved, "negative": negative, "nodes": result.nodes_expanded,
                        "seconds": result.seconds, "score": result.score, "program": result.program})
        if args.records:
            print(json.dumps({"problem": i, "primitives": domain.grammar.parse(text).prims, **records[-1]}), flush=True)
    solved_times = [r["seconds"] for r in records if r["solved"]]
    n_starts = args.ar_seeds if seeder else (1 if args.mode == "rollout" else SearchConfig.n_init)
    summary = {
        "domain": domain.name,
        "mode": args.mode,
        "start": "autoregressive" if seeder else "random",
        "n": len(records),
        **{f"solved_pct_at_{b}": round(100.0 * sum(r["solved"] and r["nodes"] <= b for r in records) / len(records), 1)
           for b in budgets},
        # Solved by a start program itself (random or autoregressive), before any edit: on
        # TinySVG, pictures moved almost entirely off the canvas are matched by any other
        # near-blank program.
        "solved_pct_by_a_start_program": round(100.0 * sum(r["solved"] and r["nodes"] <= n_starts for r in records)
                                               / len(records), 1),
        "solved_as_the_negative": sum(r["negative"] for r in records),
        "median_seconds_solved": round(statistics.median(solved_times), 2) if solved_times else None,
        "mean_score": round(sum(r["score"] for r in records) / len(records), 4),
        "one_step_edit_accuracy": round(one_step["edit_acc"], 4),
        # Pointer on any site where a correct next edit starts / on the reverse path's own (leftmost) one.
        "one_step_pointer_accuracy": round(one_step["pointer_acc"], 4),
        "one_step_pointer_accuracy_first": round(one_step["pointer_acc_first"], 4),
        # Per-terminal replacement-token loss (nats; chance is ln(#values), e.g. 2.77 for 16).
        "one_step_token_loss": token_loss,
        "wall_seconds": round(time.time() - started, 1),
        "threads": args.threads,
        "complexity_penalty": domain.complexity_penalty,
        "simplify": args.simplify,
        "repair_after": args.repair_after if not args.no_repair and domain.repairs is not None else None,
        "fit_start": not (args.no_repair or args.no_fit) and domain.fits is not None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:28s} {value}")


if __name__ == "__main__":
    main()
