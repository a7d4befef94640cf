"""`treediff solve target.png`: picture in, program out, with the files a person wants to see."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from .errors import TreediffError
from .images import as_rgb, save_png, strip
from .utils import atomic_write_text

if TYPE_CHECKING:  # torch-heavy modules load only when a search runs, keeping the CLI quick
    from .search import Searcher, SearchResult


def load_searcher(domain_name: str | None, checkpoint: str | None, device: str = "cpu") -> Searcher:
    """The model for a domain (the shipped one unless `checkpoint` is given), ready to search."""
    from .checkpoint import default_checkpoint, load_checkpoint, read_metadata
    from .domains import get_domain
    from .search import Searcher

    if checkpoint is None:
        name = domain_name or "csg2d"
        path = default_checkpoint(name)
        if not path.exists():
            raise TreediffError(f"no shipped model for domain '{name}'; train one with "
                                f"'treediff train --domain {name}' and pass --checkpoint")
    else:
        path = Path(checkpoint)
    info = read_metadata(path)
    name = domain_name or info.get("domain")
    domain = get_domain(name)
    model, _ = load_checkpoint(path, domain=domain.name, grammar_hash=domain.grammar.hash, device=device)
    return Searcher(domain, model, device=device)


def difference_image(target: np.ndarray, render: np.ndarray) -> np.ndarray:
    """Red where the target has ink the render lacks, blue where the render has extra."""
    if target.ndim == 3:
        diff = np.abs(target - render).mean(axis=2)
        return 1.0 - np.repeat(diff[..., None], 3, axis=2)
    out = np.ones(target.shape + (3,), dtype=np.float32)
    missing = np.clip(target - render, 0, 1)
    extra = np.clip(render - target, 0, 1)
    out[..., 1] -= missing + extra
    out[..., 2] -= missing
    out[..., 0] -= extra
    return np.clip(out, 0, 1)


def _thickened(line: np.ndarray) -> np.ndarray:
    """A one-pixel line three pixels wide, to be seen at 256 px."""
    from scipy.ndimage import binary_dilation

    return binary_dilation(line, iterations=1)


def sketch_overlay(centre_line: np.ndarray, render: np.ndarray) -> np.ndarray:
    """The drawing's pen line (dark) with the answer on top: its outline red, its inside
    tinted. RGB at the centre line's size.

    Why not `difference_image`: a drawing is an outline and a render is filled, so their
    difference is the whole inside of every shape and hides how well the outlines meet."""
    from .sketch import outline_of

    out = np.ones(centre_line.shape + (3,), dtype=np.float32)
    out[render > 0.5] = (1.0, 0.86, 0.86)
    out[_thickened(centre_line)] = (0.2, 0.2, 0.2)
    out[_thickened(outline_of(render))] = (0.85, 0.1, 0.1)
    return out


def write_outputs(out_dir: Path, searcher: Searcher, target: np.ndarray, result: SearchResult,
                  trace_gif: bool, alternatives: list[SearchResult] = (), detail: np.ndarray | None = None) -> None:
    """program.txt, render.png, program.svg and compare.png (the target, the answer and how
    they differ; for a sketch, given the drawing's centre line as `detail`, the drawing,
    the answer and the answer's outline over the drawing at the centre line's size), plus
    alternatives.png/.txt (the same, then each alternative; for a sketch each over the
    drawing) and trace.gif when asked for."""
    domain = searcher.domain
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "program.txt", result.program + "\n")
    big = domain.render(result.node, domain.canvas)
    save_png(big, out_dir / "render.png")
    atomic_write_text(out_dir / "program.svg", domain.svg(result.node))
    small = domain.render(result.node, target.shape[0])
    view = lambda im: as_rgb(1.0 - im if im.ndim == 2 else im)  # noqa: E731  (dark ink on white, like paper)
    if detail is not None:  # a sketch: the answer over the drawing's pen line, at its size
        fine = domain.render(result.node, detail.shape[-1])
        shown = [view(_thickened(detail).astype(np.float32)), sketch_overlay(detail, fine)]  # drawing, answer
        save_png(strip([shown[0], view(fine), shown[1]]), out_dir / "compare.png")
    else:
        shown = [view(target), view(small)]
        save_png(strip([*shown, difference_image(target, small)]), out_dir / "compare.png")
    for stale in ("alternatives.txt", "alternatives.png"):  # a rerun into the same folder
        (out_dir / stale).unlink(missing_ok=True)
    if alternatives:
        atomic_write_text(out_dir / "alternatives.txt", "".join(a.program + "\n" for a in alternatives))
        if detail is not None:  # each over the drawing, as in compare.png, to tell them apart
            shown += [sketch_overlay(detail, domain.render(a.node, detail.shape[-1])) for a in alternatives]
        else:
            shown += [view(domain.render(a.node, target.shape[0])) for a in alternatives]
        save_png(strip(shown), out_dir / "alternatives.png")
    if trace_gif:
        from PIL import Image

        frames = []
        for nodes, program, score in result.trace:
            frame = view(domain.render(domain.grammar.parse(program), target.shape[0]))
            frames.append(Image.fromarray((strip([view(target), frame]) * 255).astype(np.uint8)))
        frames[0].save(out_dir / "trace.gif", save_all=True, append_images=frames[1:] or [], duration=400, loop=0)


def cmd_solve(args) -> int:
    import torch
    from tqdm import tqdm

    from .checkpoint import default_checkpoint
    from .images import load_image, read_rgb
    from .preprocess import looks_like_sketch, read_sketch
    from .search import SearchConfig, repair_start
    from .utils import resolve_device, seed_everything

    if not Path(args.image).is_file():
        raise TreediffError(f"image not found: {args.image}")
    seed_everything(args.seed)
    torch.set_num_threads(max(1, args.threads))
    device = resolve_device(args.device)
    sketch = args.sketch
    from .sketch import SKETCH_DOMAIN

    photo = None  # the picture as sketch mode reads it, decoded once (a 12 MP photo takes 0.6 s)
    if sketch is None:  # automatic: a line drawing, and neither a domain nor a model asked for
        if args.domain is None and args.checkpoint is None:
            # Full size: `looks_like_sketch` shrinks it once, keeping each block's darkest
            # pixel. Shrunk first to the working size and then again, printed lines came out
            # twice as thick, and a squared page turned 20 degrees looked filled.
            photo = np.asarray(read_rgb(args.image))
        sketch = photo is not None and looks_like_sketch(photo)
        if sketch and not default_checkpoint(SKETCH_DOMAIN).exists():
            print("treediff: this looks like an outline sketch, but no sketch model is installed; "
                  "solving it as a filled picture", file=sys.stderr)
            sketch = False
        elif sketch:
            print("treediff: this looks like an outline sketch (thin strokes, little filled area): "
                  "switching to sketch mode (--no-sketch to turn off)", file=sys.stderr)
    searcher = load_searcher(SKETCH_DOMAIN if sketch else args.domain, args.checkpoint, device)
    domain = searcher.domain
    if args.complexity_penalty is not None:
        if args.complexity_penalty < 0:
            raise TreediffError("--complexity-penalty must be 0 or more")
        # a copy: the registered domain stays as it is for anything else in this process
        domain = searcher.domain = dataclasses.replace(domain, complexity_penalty=args.complexity_penalty)
    detail = None  # sketches: the pen's centre line at 4x, for choosing the answer
    if sketch:
        reading = read_sketch(np.asarray(read_rgb(args.image)) if photo is None else photo, searcher.image_size,
                              frame=args.sketch_frame)
        target, detail = reading.image, reading.skeleton
    else:
        target = load_image(args.image, domain.channels, searcher.image_size)
    if args.budget is None:  # sketch search always spends its budget (no exact goal), so a smaller one
        args.budget = SKETCH_BUDGET if not domain.stop_at_goal else DEFAULT_BUDGET
    if args.budget < 1 or args.beam < 1:
        raise TreediffError("--budget and --beam must be positive")
    if args.ar_seeds < 0:
        raise TreediffError("--ar-seeds must be 0 or more")
    if args.alternatives is not None and args.alternatives < 0:
        raise TreediffError("--alternatives must be 0 or more")
    from .seeding import seeded_search, shipped_seeder

    init = [domain.grammar.parse(args.init)] if args.init else None
    seeder = None
    if init is None and args.ar_seeds > 0 and not args.rollout:
        seeder = shipped_seeder(domain, device)  # None when no AR model fits this domain
    start = "init" if init else "autoregressive" if seeder else "random"
    cfg = SearchConfig(budget=args.budget, beam=args.beam, edits_per_node=args.edits_per_node,
                       repair=not args.no_repair, fit_start=not args.no_repair, repair_after=repair_start(args.budget),
                       rerank_top=0 if args.no_verifier else SearchConfig.rerank_top)
    with tqdm(total=args.budget, desc="search", unit="node", file=sys.stderr, disable=args.quiet) as bar:
        if args.rollout:
            result = searcher.rollout(target, args.budget, seed=args.seed, init=init, progress=bar)
        elif init:
            result = searcher.search(target, cfg, seed=args.seed, init=init, progress=bar, detail=detail)
        else:
            result = seeded_search(searcher, target, cfg, args.seed, seeder, args.ar_seeds, progress=bar,
                                   detail=detail)
    n_alternatives = args.alternatives if args.alternatives is not None else SKETCH_ALTERNATIVES if sketch else 0
    alternatives = searcher.alternatives(target, result, n_alternatives, max(cfg.rerank_top, 1), detail)
    out_dir = Path(args.out) if args.out else Path("treediff-out") / Path(args.image).stem
    write_outputs(out_dir, searcher, target, result, args.trace, alternatives, detail)
    report = {"program": result.program, "solved": result.solved, "score": round(result.score, 4),
              "nodes_expanded": result.nodes_expanded, "seconds": round(result.seconds, 2),
              "domain": domain.name, "score_measure": domain.score_measure,
              "start": start, "out": str(out_dir)}
    if domain.rerank is not None and cfg.rerank_top > 1 and not args.rollout:
        report["chosen_by"] = (f"verifier, among the {cfg.rerank_top} best-scoring programs"
                               + (" whose pictures leave the canvas margin empty" if domain.undrawable is not None
                                  else "")
                               + (", passing over those that trace the drawing's wobble with a near copy of a shape"
                                  if domain.wobble_trace is not None else "")
                               + (f", with their {getattr(domain.detail_score, 'measure', 'score')} on the drawing's "
                                  f"centre line at {detail.shape[-1]} px"
                                  if detail is not None and domain.detail_score is not None else ""))
    if sketch:  # how the drawing was laid onto the answer's grid (turned, scaled, shifted)
        from .sketch import registered_outline_distance

        _, transform = registered_outline_distance(target, domain.render_text(result.program, searcher.image_size))
        if transform is not None:
            report["registration"] = transform.as_dict()
    if n_alternatives:
        report["alternatives"] = [{"program": a.program, "score": round(a.score, 4)} for a in alternatives]
    if args.json:
        print(json.dumps(report))
    else:
        print(result.program)
        for a in alternatives:
            print(f"also fits: {a.program} (score {a.score:.3f})", file=sys.stderr)
        status = "solved" if result.solved else "best found (not solved)"
        print(f"{status}: score {result.score:.3f} after {result.nodes_expanded} programs in {result.seconds:.1f}s; "
              f"files in {out_dir}/", file=sys.stderr)
    return 0


DEFAULT_BUDGET = 2000
SKETCH_BUDGET = 1000
AR_SEEDS = 8
# Runner-up readings a sketch answer lists by default: a drawing often fits a program and its
# neighbour a digit away equally well (docs/sketches.md), and the person who drew it can tell.
SKETCH_ALTERNATIVES = 3


def add_solve_parser(sub) -> None:
    p = sub.add_parser("solve", help="find a program that draws the given image")
    p.add_argument("image", help="PNG or JPEG; any size, colour or greyscale, dark-on-light or light-on-dark")
    p.add_argument("--domain", help="domain (default: the checkpoint's, else csg2d)")
    p.add_argument("--checkpoint", help="model checkpoint (default: the shipped model for the domain)")
    p.add_argument("--budget", type=int, default=None,
                   help=f"distinct programs to render and check (default {DEFAULT_BUDGET}; {SKETCH_BUDGET} for sketches, "
                        "whose search always spends all of it)")
    p.add_argument("--beam", type=int, default=16)
    p.add_argument("--edits-per-node", type=int, default=4)
    p.add_argument("--sketch", action=argparse.BooleanOptionalAction, default=None,
                   help="the image is a hand-drawn outline (default: detect it when no --domain is given)")
    p.add_argument("--sketch-frame", choices=["bbox", "canvas"], default="bbox",
                   help="sketch mode: crop to the drawing (bbox) or take the whole picture as the canvas")
    p.add_argument("--init", help="start from this program and repair it toward the image")
    p.add_argument("--ar-seeds", type=int, default=AR_SEEDS,
                   help="start from this many programs of the shipped autoregressive model (CSGNet) when the "
                        "domain has one; they count against the budget (0 = random start programs)")
    p.add_argument("--rollout", action="store_true", help="no search: follow the policy's greedy edits")
    p.add_argument("--no-repair", action="store_true",
                   help="search without the domain's hand-written proposals (CSG2D: the greedy fit of the picture "
                        "and shapes fitted to missing or extra ink)")
    p.add_argument("--complexity-penalty", type=float, default=None,
                   help="score the search gives up per primitive (default: the domain's; 0 for csg2d): for a picture "
                        "no program draws exactly, e.g. 0.002 trades a little IoU for a much shorter program")
    p.add_argument("--no-verifier", action="store_true",
                   help="sketch mode: answer with the best-scoring program instead of the learned verifier's "
                        "choice among the best")
    p.add_argument("--alternatives", type=int, default=None,
                   help=f"also list this many runner-up programs that draw other pictures, ranked as the answer was "
                        f"chosen (alternatives.txt, alternatives.png; default {SKETCH_ALTERNATIVES} for sketches, else 0)")
    p.add_argument("--out", help="output folder (default: ./treediff-out/<image name>/)")
    p.add_argument("--trace", action="store_true", help="also write trace.gif of the best program improving")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_solve)
