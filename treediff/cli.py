"""The ``treediff`` command line: one subcommand per job, results on stdout, progress on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import TreediffError


def _read_program(args) -> str:
    if getattr(args, "file", None):
        try:
            return Path(args.file).read_text().strip()
        except (OSError, UnicodeDecodeError) as err:
            raise TreediffError(f"cannot read program file {args.file}: {err}") from None
    if not args.program:
        raise TreediffError("give a program as an argument or with --file")
    return args.program


def cmd_domains(args) -> int:
    from .domains import available_domains, get_domain

    rows = [get_domain(name).describe() for name in available_domains()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        print(f"{row['name']:10s} {row['description']}")
        print(f"{'':10s} grammar {row['grammar_file']}")
        print(f"{'':10s} canvas {row['canvas']} px (model input {row['model_size']} px, {row['channels']} channel(s)); "
              f"primitives: {', '.join(row['primitive_rules'])} ({row['primitives_range'][0]}-"
              f"{row['primitives_range'][1]} per target)")
    return 0


def cmd_sample(args) -> int:
    from .domains import get_domain
    from .sampler import Sampler
    from .utils import seed_everything

    domain = get_domain(args.domain)
    lo = domain.min_primitives if args.min_primitives is None else args.min_primitives
    hi = domain.max_primitives if args.max_primitives is None else args.max_primitives
    if lo < 1 or hi < lo:
        raise TreediffError(f"need 1 <= --min-primitives <= --max-primitives (got {lo}, {hi})")
    rng = seed_everything(args.seed)
    sampler = Sampler(domain.grammar)
    try:
        programs = [sampler.sample_program(rng, lo, hi) for _ in range(args.n)]
    except ValueError as err:
        raise TreediffError(str(err)) from None
    g = domain.grammar
    if args.json:
        print(json.dumps([{"program": g.unparse(p), "primitives": p.prims} for p in programs]))
    else:
        for p in programs:
            print(g.unparse(p))
    return 0


def cmd_render(args) -> int:
    from .domains import get_domain
    from .images import save_png
    from .utils import atomic_write_text

    domain = get_domain(args.domain)
    tree = domain.grammar.parse(_read_program(args))
    hand_drawn = args.sketch or args.photo
    size = args.size or (SKETCH_DRAW_SIZE if hand_drawn else domain.canvas)
    if size < 8 or size > 4096:
        raise TreediffError(f"--size must be between 8 and 4096 (got {size})")
    if hand_drawn:
        save_png(_hand_drawn(domain, tree, size, args.seed, args.photo), args.output)
    else:
        save_png(domain.render(tree, size), args.output)
    written = [args.output]
    if args.svg:
        atomic_write_text(args.svg, domain.svg(tree))
        written.append(args.svg)
    print(" ".join(str(w) for w in written))
    return 0


# Side of a simulated drawing unless --size says otherwise: the sketch benchmark draws at
# this size, and a phone photo of a drawing is larger than the 128 px canvas.
SKETCH_DRAW_SIZE = 256


def _hand_drawn(domain, tree, size: int, seed: int, photo: bool):
    """`tree` drawn by the sketch simulator in its held-out style (wider ranges than the
    sketch model trained on, as the sketch benchmark draws), dark ink on white paper, or
    with `photo` photographed as the benchmark's "photo" variant. Seeded: one seed, one
    drawing."""
    import numpy as np

    from .sketch import HELDOUT_STYLE, photographed, sketch_program

    if domain.channels != 1:
        raise TreediffError(f"--sketch draws the outlines of one-colour pictures; domain '{domain.name}' "
                            f"draws in colour (try a CSG2D program)")
    rng = np.random.default_rng(seed)
    drawing = sketch_program(domain, tree, size, rng, HELDOUT_STYLE)  # ink = 1
    return photographed(drawing, rng) if photo else 1.0 - drawing


def cmd_noise(args) -> int:
    from .domains import get_domain
    from .images import save_png, strip
    from .noise import Mutator, NoiseConfig
    from .utils import seed_everything

    domain = get_domain(args.domain)
    g = domain.grammar
    clean = g.parse(_read_program(args))
    rng = seed_everything(args.seed)
    mutator = Mutator(g, NoiseConfig(sigma=args.sigma))
    forward = [clean]
    for _ in range(args.steps):
        forward.append(mutator.mutate(rng, forward[-1])[0])
    reverse = [forward[-1]]
    for edit in mutator.reverse_path(forward[-1], clean):
        reverse.append(edit.apply(g, reverse[-1]))
    if args.json:
        print(json.dumps({"forward": [g.unparse(t) for t in forward], "reverse": [g.unparse(t) for t in reverse]}))
    else:
        print("forward (noising):")
        for i, t in enumerate(forward):
            print(f"  {i}: {g.unparse(t)}")
        print("reverse path (denoising):")
        for i, t in enumerate(reverse):
            print(f"  {i}: {g.unparse(t)}")
    if args.output:
        size = args.size
        top = strip([domain.render(t, size) for t in forward])
        bottom = strip([domain.render(t, size) for t in reverse])
        import numpy as np

        width = max(top.shape[1], bottom.shape[1])
        canvas = np.full((2 * size + 8, width, 3), 0.5, dtype=np.float32)
        canvas[:size, :top.shape[1]] = top
        canvas[size + 8:, :bottom.shape[1]] = bottom
        save_png(canvas, args.output)
        print(f"wrote {args.output} (top: forward noise, bottom: reverse path)", file=sys.stderr)
    return 0


def cmd_check_grammar(args) -> int:
    from .grammar import Grammar
    from .noise import Mutator
    from .utils import seed_everything

    primitives = tuple(args.primitives.split(",")) if args.primitives else None
    grammar = Grammar.from_file(args.grammar, start=args.start, primitives=primitives)
    rng = seed_everything(args.seed)
    mutator = Mutator(grammar)
    counts = grammar.counts(grammar.start)
    lo = next((k for k in counts if k >= 1), counts[0])
    examples = [grammar.unparse(mutator.sampler.sample(rng, k)) for k in counts[counts.index(lo):][:3]]
    for text in examples:  # the sampler's output must parse back: a cheap end-to-end check
        grammar.parse(text)
    report = dict(grammar.summary, feasible_primitive_counts=counts[:16], example_programs=examples)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['path']}: OK (start rule '{report['start']}', hash {report['hash']})")
    print("rules:")
    for name, alts in report["rules"].items():
        print(f"  {name}: " + " | ".join(alts))
    print(f"primitive rules: {', '.join(report['primitives'])}")
    print("minimum primitive cost: " + ", ".join(f"{k}={v}" for k, v in report["min_primitive_cost"].items()))
    print("terminal value sets:")
    for name, values in report["terminal_values"].items():
        print(f"  {name}: {' '.join(values)}")
    print(f"primitive counts the start rule can derive: {', '.join(map(str, counts[:16]))}"
          f"{', ...' if len(counts) > 16 else ''}")
    print("example programs:")
    for text in examples:
        print(f"  {text}")
    return 0


def cmd_train(args) -> int:
    from .train import TrainConfig, train

    overrides = {}
    for key in ("d_model", "enc_layers", "dec_layers", "n_heads", "grid", "ff_mult", "memory_grid"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    if args.steps < 1 or args.batch_size < 1:
        raise TreediffError("--steps and --batch-size must be positive")
    cfg = TrainConfig(domain=args.domain, out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      warmup=args.warmup, seed=args.seed, workers=args.workers, threads=args.threads,
                      save_every=args.save_every, eval_every=args.eval_every, eval_examples=args.eval_examples,
                      device=args.device, resume=args.resume, sigma=args.sigma, model=overrides,
                      init_from=args.init_from, curriculum_start=args.curriculum_start, curriculum=args.curriculum,
                      targets=args.targets, ordinal_smoothing=args.ordinal_smoothing)
    if not 0 <= args.ordinal_smoothing <= 1:
        raise TreediffError("--ordinal-smoothing must be between 0 and 1")
    if args.curriculum_start < 1 or not 0 <= args.curriculum <= 1:
        raise TreediffError("--curriculum-start must be >= 1 and --curriculum between 0 and 1")
    from .domains import get_domain

    get_domain(args.domain)  # fail fast on an unknown domain
    _report_training(train(cfg), args.json, "checkpoint", "model.safetensors")
    return 0


def _report_training(result: dict, as_json: bool, what: str, weights: str) -> None:
    """A finished training run: its JSON result, or one line from the first rank (under torchrun)."""
    if as_json:
        print(json.dumps(result))
    elif int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {result['step']} steps; {what} in {result['out']}/{weights}")


def cmd_train_verifier(args) -> int:
    from .verifier_train import VerifierTrainConfig, train_verifier

    if args.steps < 1 or args.batch_size < 1 or args.sketches < 1 or args.mined < 0 or args.mine_budget < 1:
        raise TreediffError("--steps, --batch-size, --sketches and --mine-budget must be positive, --mined 0 or more")
    cfg = VerifierTrainConfig(out=args.out, sketches=args.sketches, steps=args.steps, batch_size=args.batch_size,
                              lr=args.lr, seed=args.seed, device=args.device, threads=args.threads,
                              save_every=args.save_every, resume=args.resume, workers=args.workers,
                              mined=args.mined, mine_budget=args.mine_budget, mined_share=args.mined_share,
                              init=args.init)
    _report_training(train_verifier(cfg), args.json, "verifier", "verifier.safetensors")
    return 0


def _add_program_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("program", nargs="?", help="program text (or use --file)")
    p.add_argument("--file", help="read the program from this file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="treediff",
        description="Program synthesis by diffusion over syntax trees: picture in, short editable program out.",
    )
    parser.add_argument("--version", action="version", version=f"treediff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("domains", help="list the registered domains")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_domains)

    p = sub.add_parser("sample", help="print random programs with an exact primitive count")
    p.add_argument("--domain", default="csg2d")
    p.add_argument("-n", type=int, default=10)
    p.add_argument("--min-primitives", type=int)
    p.add_argument("--max-primitives", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("render", help="draw a program to PNG (and SVG)")
    p.add_argument("--domain", default="csg2d")
    _add_program_args(p)
    p.add_argument("-o", "--output", default="render.png")
    p.add_argument("--size", type=int, help="image size in px (default: the domain's canvas)")
    p.add_argument("--svg", help="also write an SVG of the program here")
    p.add_argument("--sketch", action="store_true",
                   help="draw it as a simulated pen drawing on paper instead (an input for solve --sketch)")
    p.add_argument("--photo", action="store_true", help="... and photographed (paper colour, lighting, blur, JPEG)")
    p.add_argument("--seed", type=int, default=0, help="the hand of --sketch and --photo (a clean render needs none)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("noise", help="show a forward noising chain and the reverse edit path")
    p.add_argument("--domain", default="csg2d")
    _add_program_args(p)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--sigma", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("-o", "--output", help="write an image strip here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_noise)

    p = sub.add_parser("check-grammar", help="validate a .lark grammar file and report what treediff derives")
    p.add_argument("grammar")
    p.add_argument("--start", help="start rule (default: the file's directive, else 'start')")
    p.add_argument("--primitives", help="comma-separated primitive rules (default: the file's directive)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check_grammar)

    p = sub.add_parser("train", help="train policy and value networks on edits generated on the fly")
    p.add_argument("--domain", default="csg2d")
    p.add_argument("--out", default="runs/csg2d", help="run directory (checkpoints, log.jsonl)")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--sigma", type=int, default=2, help="largest subtree (in primitives) one edit replaces")
    p.add_argument("--workers", type=int, default=1, help="data-generation processes")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-examples", type=int, default=256)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--init-from", help="start from this checkpoint's weights (same grammar), e.g. to fine-tune")
    p.add_argument("--curriculum-start", type=int, default=1,
                   help="largest target (primitives) at step 0; grows to the domain's maximum")
    p.add_argument("--curriculum", type=float, default=0.4,
                   help="fraction of the steps over which targets grow (0 = full size from the start)")
    p.add_argument("--targets", choices=("reverse", "undo"), default="reverse",
                   help="edits to learn: the reverse path to the clean program, or undo the last mutation (ablation)")
    p.add_argument("--ordinal-smoothing", type=float, default=0.0,
                   help="weight (0-1) of a Gaussian over neighbouring values in number targets (0 = one-hot)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    for key, kind in (("d_model", int), ("enc_layers", int), ("dec_layers", int), ("n_heads", int), ("grid", int),
                      ("ff_mult", int), ("memory_grid", int)):
        p.add_argument("--" + key.replace("_", "-"), type=kind, help="model size override")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-verifier", help="train the sketch verifier that picks sketch search's answer")
    p.add_argument("--out", default="runs/csg2d-sketch-verifier", help="run directory (data, checkpoints, log.jsonl)")
    p.add_argument("--sketches", type=int, default=12000, help="simulated drawings to make (the last 300 held out)")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=16, help="drawings per step (each with its 16 candidates)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--workers", type=int, default=2, help="processes making the simulated drawings")
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--mined", type=int, default=0,
                   help="also search this many drawings and learn from the programs each search shortlists")
    p.add_argument("--mine-budget", type=int, default=500, help="programs each of those searches tries")
    p.add_argument("--mined-share", type=float, default=0.5, help="share of each step's drawings from the mined ones")
    p.add_argument("--init", help="start from this verifier (path without suffix) instead of at random")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train_verifier)

    from .solve import add_solve_parser

    add_solve_parser(sub)

    from .bench import add_bench_parser

    add_bench_parser(sub)

    from .codefusion.cli import add_codefusion_parser

    add_codefusion_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TreediffError as err:
        print(f"treediff: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("treediff: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # a bug of ours: still one line for the user, the traceback on request
        if os.environ.get("TREEDIFF_DEBUG"):
            raise
        print(f"treediff: internal error: {type(err).__name__}: {err} (set TREEDIFF_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
