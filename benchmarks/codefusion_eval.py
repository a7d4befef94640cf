"""CodeFusion vs the autoregressive baseline, side by side on the full test split.

    python benchmarks/codefusion_eval.py --lang cf --json
    python benchmarks/codefusion_eval.py --lang bash --train-steps 2000 --json

CF uses the shipped checkpoint pair. No Bash checkpoint ships: pass --checkpoint and
--ar-checkpoint, or --train-steps N to pre-train (N/2 steps) and fine-tune (N steps) both
models with identical settings first (slow on a CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from treediff.errors import TreediffError  # noqa: E402

KEYS = ["exact_top1", "exact_top5", "execution_top1", "execution_top5", "template_top1", "template_top5",
        "bleu_top1", "bleu_top5", "valid_top1", "top5_distinct_1", "top5_distinct_2", "top5_edit_distance",
        "seconds_per_sample"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lang", choices=["cf", "bash", "python"], default="cf")
    ap.add_argument("--data", default=None)
    ap.add_argument("--checkpoint", default=None, help="diffusion checkpoint (default: shipped)")
    ap.add_argument("--ar-checkpoint", default=None, help="AR baseline checkpoint (default: shipped)")
    ap.add_argument("--train-steps", type=int, default=None,
                    help="train both models first (pre-train N/2 + fine-tune N steps each)")
    ap.add_argument("--work", default=None, help="where --train-steps writes (default runs/codefusion-bench/LANG)")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="diffusion inference steps")
    ap.add_argument("--ar-search", choices=["beam", "nucleus"], default="beam")
    ap.add_argument("--no-grammar-rank", action="store_true",
                    help="ablation: rank by log-probability alone, not candidates that parse first")
    ap.add_argument("--pool", type=int, default=None,
                    help="diffusion: distinct candidates drawn before the best k are kept (default: generate's)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        res = run(args)
    except TreediffError as err:
        print(f"codefusion_eval: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{'metric':22s} {'diffusion':>10s} {'ar':>10s}")
        for key in KEYS:
            if key in res["diffusion"]:
                print(f"{key:22s} {res['diffusion'][key]:>10} {res['ar'][key]:>10}")
    return 0


def run(args) -> dict:
    import torch

    from treediff.codefusion.checkpoint import SHIPPED, load_checkpoint, shipped_checkpoint
    from treediff.codefusion.data import load_benchmark
    from treediff.codefusion.evaluate import evaluate
    from treediff.codefusion.literals import LiteralCodec
    from treediff.codefusion.train import finetune, pretrain, seed_everything

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    items = load_benchmark(args.lang, args.data)["test"][: args.limit]
    paths = {"diffusion": args.checkpoint, "ar": args.ar_checkpoint}
    if args.train_steps:
        work = Path(args.work or f"runs/codefusion-bench/{args.lang}")
        for kind in ("diffusion", "ar"):
            pre = work / f"{kind}-pretrain"
            pretrain(args.lang, args.data, pre, kind=kind, steps=max(1, args.train_steps // 2), seed=args.seed)
            finetune(args.lang, args.data, work / kind, kind=kind, init=pre, steps=args.train_steps, seed=args.seed)
            paths[kind] = work / kind
    for kind in ("diffusion", "ar"):
        if paths[kind] is None:
            if not (SHIPPED / args.lang / f"{kind}.json").is_file():
                raise TreediffError(
                    f"no {args.lang} checkpoint ships with treediff (only cf does); pass --checkpoint and "
                    f"--ar-checkpoint, or --train-steps N to train both models first")
            paths[kind] = shipped_checkpoint(args.lang, kind)
    out = {"language": args.lang, "n": len(items), "k": args.k}
    for kind in ("diffusion", "ar"):
        model, tok, info = load_checkpoint(paths[kind], lang=args.lang, kind=kind)
        res = evaluate(model, kind, tok, args.lang, items, k=args.k, seed=args.seed, steps=args.steps,
                       ar_method=args.ar_search, literals=LiteralCodec.from_meta(info["meta"]),
                       grammar_rank=not args.no_grammar_rank, pool=args.pool)
        res.pop("predictions")
        res["literal_placeholders"] = bool(info["meta"].get("literals"))
        res["checkpoint"] = str(paths[kind])
        res["params"] = sum(p.numel() for p in model.parameters())
        res["train"] = {k: info["meta"].get(k) for k in ("steps", "loss", "seconds", "pretrain")}
        out[kind] = res
    return out


if __name__ == "__main__":
    sys.exit(main())
