"""``treediff codefusion {generate,pretrain,train,eval}``; heavy imports stay inside the commands."""

from __future__ import annotations

import argparse
import json

from ..errors import TreediffError

LANGS = ["cf", "bash", "python"]


def _common(p: argparse.ArgumentParser, data: bool = True) -> None:
    p.add_argument("--lang", choices=LANGS, default="cf", help="benchmark language (default cf)")
    if data:
        p.add_argument("--data", default=None,
                       help="benchmark folder (default $TREEDIFF_DATA, then ../shared/datasets/codefusion)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--model", choices=["diffusion", "ar"], default="diffusion",
                   help="CodeFusion diffusion model or the autoregressive baseline")


def _sampling(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, help="checkpoint stem/.json (default: the shipped one)")
    p.add_argument("--steps", type=int, default=10, help="respaced diffusion steps at inference")
    p.add_argument("--decode", choices=["dh", "ground", "clamp"], default="dh",
                   help="decoder+head (default), grounding at the end, or clamping every step")
    p.add_argument("--ar-search", choices=["beam", "nucleus"], default="beam", help="top-k search of the AR baseline")
    p.add_argument("--no-grammar-rank", action="store_true",
                   help="ablation: rank by the model's log-probability alone, not candidates that parse first")
    p.add_argument("--pool", type=int, default=None,
                   help="diffusion: distinct candidates drawn before the best k are kept (default 10; smaller is faster)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _training(p: argparse.ArgumentParser, stage: str) -> None:
    p.add_argument("--out", default=None, help=f"checkpoint stem (default runs/codefusion/LANG/MODEL-{stage})")
    p.add_argument("--train-steps", "--iters", dest="train_steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out")
    size = p.add_argument_group("model size (new models only)")
    for name, typ in [("vocab-size", int), ("d-model", int), ("d-embed", int), ("n-heads", int), ("d-ff", int),
                      ("enc-layers", int), ("den-layers", int), ("dec-layers", int), ("max-src-len", int),
                      ("max-tgt-len", int), ("dropout", float), ("diffusion-steps", int)]:
        size.add_argument(f"--{name}", type=typ, default=None)
    p.add_argument("--predict", choices=["x0", "eps"], default=None, help="what the denoiser outputs")
    p.add_argument("--high-noise", type=float, default=0.5,
                   help="diffusion: fraction of t drawn from the noisiest 20%% of steps (default 0.5)")
    p.add_argument("--no-literals", action="store_true",
                   help="ablation: the model sees raw values instead of literal placeholders (codefusion/literals.py)")


def add_codefusion_parser(sub) -> None:
    p = sub.add_parser("codefusion", help="natural language to code by embedding diffusion (CodeFusion)",
                       description="CodeFusion: natural language to code by diffusion over code embeddings.")
    cs = p.add_subparsers(dest="cf_command", metavar="COMMAND")
    cs.required = True

    g = cs.add_parser("generate", help="top-k code for an utterance")
    g.add_argument("utterance")
    g.add_argument("-k", type=int, default=5)
    _common(g, data=False)
    _sampling(g)
    g.set_defaults(func=cmd_generate)

    pre = cs.add_parser("pretrain", help="unsupervised generation + CPD on the snippet file")
    _common(pre)
    _training(pre, "pretrain")
    pre.add_argument("--no-gen-pretrain", action="store_true", help="ablation: skip unsupervised generation")
    pre.add_argument("--no-cpd", action="store_true", help="ablation: skip continuous paragraph denoising")
    pre.set_defaults(func=cmd_pretrain)

    tr = cs.add_parser("train", help="fine-tune on the train split")
    _common(tr)
    _training(tr, "train")
    tr.add_argument("--init", default=None, help="start from this (pre-trained) checkpoint")
    tr.add_argument("--word-dropout", type=float, default=0.15,
                    help="leave out each utterance word (not a literal placeholder) with this probability "
                         "(default 0.15; 0 is the ablation)")
    tr.add_argument("--ema", type=float, default=0.0,
                    help="save an exponential moving average of the weights with this decay, e.g. 0.999 "
                         "(default 0: the last step's weights)")
    tr.add_argument("--lowercase", action="store_true",
                    help="the model reads the utterance lower-cased once its literal values are found "
                         "(recorded in the checkpoint; the shipped CF pair uses it)")
    tr.set_defaults(func=cmd_train)

    ev = cs.add_parser("eval", help="evaluate on the test split")
    _common(ev)
    _sampling(ev)
    ev.add_argument("-k", type=int, default=5)
    ev.add_argument("--split", choices=["train", "test"], default="test")
    ev.add_argument("--limit", type=int, default=None, help="first N items only")
    ev.add_argument("--predictions", action="store_true", help="include the candidates in --json output")
    ev.set_defaults(func=cmd_eval)


def _setup(args):
    import torch

    from ..utils import resolve_device, seed_everything

    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    return resolve_device(args.device)


def _load(args, device):
    from .checkpoint import load_checkpoint, shipped_checkpoint

    path = args.checkpoint or shipped_checkpoint(args.lang, args.model)
    return load_checkpoint(path, lang=args.lang, device=device)


def cmd_generate(args) -> int:
    if not args.utterance.strip():
        raise TreediffError("empty utterance: describe the code to generate, e.g. \"Color cells greater than 5\"")
    device = _setup(args)
    from .generate import topk
    from .literals import LiteralCodec

    model, tok, info = _load(args, device)
    [cands] = topk(model, info["kind"], tok, [args.utterance], k=args.k, seed=args.seed, steps=args.steps,
                   decode=args.decode, ar_method=args.ar_search, device=device,
                   literals=LiteralCodec.from_meta(info["meta"]),
                   lang=None if args.no_grammar_rank else info["language"], pool=args.pool)
    if args.json:
        print(json.dumps({"utterance": args.utterance, "model": info["kind"], "language": info["language"],
                          "candidates": [{"code": c, "score": round(s, 4)} for c, s in cands]}, ensure_ascii=False))
    else:
        for c, _ in cands:
            print(c)
    return 0


def _overrides(args) -> dict:
    keys = ["vocab_size", "d_model", "d_embed", "n_heads", "d_ff", "enc_layers", "den_layers", "dec_layers",
            "max_src_len", "max_tgt_len", "dropout", "diffusion_steps", "predict"]
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _out(args, stage):
    return args.out or f"runs/codefusion/{args.lang}/{args.model}-{stage}"


def cmd_pretrain(args) -> int:
    device = _setup(args)
    from .train import pretrain

    out = _out(args, "pretrain")
    pretrain(args.lang, args.data, out, kind=args.model, steps=args.train_steps, batch_size=args.batch_size,
             lr=args.lr, seed=args.seed, device=device, gen=not args.no_gen_pretrain, cpd=not args.no_cpd,
             resume=args.resume, overrides=_overrides(args), high_noise=args.high_noise,
             literals=not args.no_literals)
    print(out)
    return 0


def cmd_train(args) -> int:
    device = _setup(args)
    from .train import finetune

    if not 0.0 <= args.ema < 1.0:
        raise TreediffError(f"--ema must be in [0, 1), got {args.ema}")
    out = _out(args, "train")
    finetune(args.lang, args.data, out, kind=args.model, init=args.init, steps=args.train_steps,
             batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=device, resume=args.resume,
             overrides=_overrides(args), high_noise=args.high_noise, literals=not args.no_literals,
             word_dropout=args.word_dropout, ema=args.ema, lowercase=args.lowercase)
    print(out)
    return 0


def cmd_eval(args) -> int:
    device = _setup(args)
    from .data import load_benchmark
    from .evaluate import evaluate
    from .literals import LiteralCodec

    items = load_benchmark(args.lang, args.data)[args.split][: args.limit]
    model, tok, info = _load(args, device)
    res = evaluate(model, info["kind"], tok, args.lang, items, k=args.k, seed=args.seed, steps=args.steps,
                   decode=args.decode, ar_method=args.ar_search, device=device,
                   literals=LiteralCodec.from_meta(info["meta"]), grammar_rank=not args.no_grammar_rank,
                   pool=args.pool)
    preds = res.pop("predictions")
    if args.json:
        if args.predictions:
            res["predictions"] = preds
        print(json.dumps(res))
    else:
        for key, v in res.items():
            print(f"{key:24s} {v}")
    return 0
