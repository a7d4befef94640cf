"""CSGNet (Sharma et al. 2018), small and faithful, emitting our DSL's tokens.

* Encoder: 3 conv layers (8, 16, 32 filters, 3x3, ReLU, 2x2 max pooling) on the 64x64
  target, flattened and projected to `image_features`.
* Decoder: a GRU that at every step reads [image feature, embedding of the previous
  token] and predicts the next token of the program (our grammar's vocabulary, from its
  start rule, ``<eos>`` at the end). Logits are masked by the same grammar-constrained
  decoding tables as tree diffusion (`ConstrainedDecoder`), so every sample parses; CSGNet's
  postfix stack programs become our prefix syntax, which the constraint handles.
* Training: random programs from the `Sampler`, rendered on the fly, teacher forcing.
* Querying (`CSGNetSearcher`): greedy decode, then beam search, then random samples;
  each distinct program counts as one node, as every node of tree-diffusion search.

Train: ``python -m treediff.baselines.csgnet train --out treediff/checkpoints/baselines/csgnet --steps 20000``.
The decoding and training helpers here are shared with the REPL Flow baseline (`repl.py`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..decoding import EOS, ConstrainedDecoder
from ..domains import Domain, get_domain
from ..errors import TreediffError
from ..model import NEG_INF
from ..sampler import Sampler
from . import BaselineResult, load_baseline, save_baseline

BOS = 1  # Grammar.specials: ("<pad>", "<bos>", "<eos>", "<sep>")


@dataclass
class CSGNetConfig:
    vocab_size: int
    in_channels: int = 1  # image channels the encoder reads (REPL Flow stacks target and current)
    image_size: int = 64
    image_features: int = 128  # the conv features (32 x 8 x 8) projected to this size
    embed: int = 64
    hidden: int = 256
    max_tokens: int = 128  # longest program (tokens) a sample may have


class CSGNet(nn.Module):
    """Conv encoder + GRU decoder; `forward` is teacher forcing, `step` one decoding step."""

    def __init__(self, config: CSGNetConfig):
        super().__init__()
        self.config = c = config
        layers, channels = [], c.in_channels
        for width in (8, 16, 32):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        self.encoder = nn.Sequential(*layers, nn.Flatten(),
                                     nn.Linear(32 * (c.image_size // 8) ** 2, c.image_features), nn.ReLU())
        self.embedding = nn.Embedding(c.vocab_size, c.embed)
        self.gru = nn.GRU(c.image_features + c.embed, c.hidden, batch_first=True)
        self.head = nn.Linear(c.hidden, c.vocab_size)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def forward(self, images: torch.Tensor, prev_tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) for the tokens following each of `prev_tokens` (B, T), BOS first."""
        feat = self.encode(images)
        x = torch.cat([feat.unsqueeze(1).expand(-1, prev_tokens.shape[1], -1), self.embedding(prev_tokens)], -1)
        h, _ = self.gru(x)
        return self.head(h)

    def step(self, feat: torch.Tensor, prev: torch.Tensor, hidden: torch.Tensor | None):
        """One decoding step for a batch: (logits (B, V), new hidden (1, B, H))."""
        x = torch.cat([feat, self.embedding(prev)], -1).unsqueeze(1)
        h, hidden = self.gru(x, hidden)
        return self.head(h[:, 0]), hidden


# ---------------------------------------------------------------------------- decoding
class GrammarConstraint:
    """The allowed-token protocol the decoders below use: whole programs from one nonterminal."""

    def __init__(self, decoder: ConstrainedDecoder, nt: int):
        self.decoder = decoder
        self.nt = nt

    def initial(self):
        return self.decoder.initial(self.nt)

    def allowed(self, state) -> np.ndarray:
        return self.decoder.allowed(state)

    def advance(self, state, token: int):
        return self.decoder.advance(state, token)


def teacher_masks(constraint, tokens: list[int]) -> np.ndarray:
    """Allowed-token masks for teacher forcing: row i = what may follow tokens[:i] (EOS last)."""
    out = np.zeros((len(tokens) + 1, len(constraint.allowed(constraint.initial()))), dtype=bool)
    state = constraint.initial()
    for i, tok in enumerate(tokens):
        out[i] = constraint.allowed(state)
        state = constraint.advance(state, tok)
    out[len(tokens)] = constraint.allowed(state)
    return out


@torch.no_grad()
def sample_sequences(model: CSGNet, feat: torch.Tensor, constraint, n: int, generator: torch.Generator,
                     temperature: float = 1.0, greedy: bool = False) -> list[list[int] | None]:
    """`n` constrained samples (token lists without EOS) for one image feature (1, F) or a batch (n, F).

    A sample that reaches `max_tokens` without finishing is None (rejected).
    """
    feat = feat.expand(n, -1) if feat.shape[0] == 1 else feat
    states = [constraint.initial() for _ in range(n)]
    written: list[list[int]] = [[] for _ in range(n)]
    finished = [False] * n
    active = list(range(n))
    prev = torch.full((n,), BOS, dtype=torch.long)
    hidden = None
    for _ in range(model.config.max_tokens + 1):
        if not active:
            break
        logits, hidden = model.step(feat[active], prev, hidden)
        mask = torch.from_numpy(np.stack([constraint.allowed(states[i]) for i in active]))
        logits = logits.masked_fill(~mask, NEG_INF)
        if greedy:
            choice = logits.argmax(-1)
        else:
            choice = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator).squeeze(-1)
        keep = []
        for row, (i, tok) in enumerate(zip(active, choice.tolist())):
            if tok == EOS:
                finished[i] = True
            elif len(written[i]) < model.config.max_tokens:
                written[i].append(tok)
                states[i] = constraint.advance(states[i], tok)
                keep.append(row)
        active = [active[r] for r in keep]
        prev = choice[keep]
        hidden = hidden[:, keep]
    return [w if f else None for w, f in zip(written, finished)]


@torch.no_grad()
def beam_search(model: CSGNet, feat: torch.Tensor, constraint, width: int) -> list[tuple[list[int], float]]:
    """Constrained beam search: up to `width` finished programs with their log-probabilities, best first."""
    beams = [([], constraint.initial(), 0.0)]
    hidden = None
    prev = torch.tensor([BOS])
    finished: list[tuple[list[int], float]] = []
    for _ in range(model.config.max_tokens + 1):
        logits, hidden = model.step(feat.expand(len(beams), -1), prev, hidden)
        mask = torch.from_numpy(np.stack([constraint.allowed(s) for _, s, _ in beams]))
        logp = torch.log_softmax(logits.masked_fill(~mask, NEG_INF), -1)
        total = logp + torch.tensor([lp for _, _, lp in beams]).unsqueeze(1)
        flat = total.flatten()
        k = min(2 * width, int((flat > NEG_INF / 2).sum()))
        top = torch.topk(flat, k)
        new, rows = [], []
        V = logits.shape[1]
        for score, index in zip(top.values.tolist(), top.indices.tolist()):
            b, tok = divmod(index, V)
            tokens, state, _ = beams[b]
            if tok == EOS:
                finished.append((tokens, score))
            elif len(new) < width and len(tokens) < model.config.max_tokens:
                new.append((tokens + [tok], constraint.advance(state, tok), score))
                rows.append(b)
        best_open = new[0][2] if new else -math.inf
        finished.sort(key=lambda f: -f[1])
        if not new or (len(finished) >= width and finished[width - 1][1] >= best_open):
            break
        beams = new
        hidden = hidden[:, rows]
        prev = torch.tensor([t[-1] for t, _, _ in new])
    return finished[:width]


# ---------------------------------------------------------------------------- search
class CSGNetSearcher:
    """Queries a trained CSGNet for one target under a node budget.

    Order (fixed, so the result at a small budget is a prefix of the run at a large one):
    the greedy program, then the beam-search programs best first, then random samples at
    `temperature`. Each distinct program is one node: rendered and checked once.
    """

    def __init__(self, domain: Domain, model: CSGNet, beam: int = 10, temperature: float = 1.0,
                 batch: int = 64):
        self.domain = domain
        self.grammar = domain.grammar
        self.model = model.eval()
        self.constraint = GrammarConstraint(ConstrainedDecoder(self.grammar), self.grammar.start)
        self.beam = beam
        self.temperature = temperature
        self.batch = batch

    def programs(self, target: np.ndarray, seed: int = 0, max_draws: int = 10_000):
        """Distinct programs (token lists) in query order: greedy, beam best first, samples.

        Stops after `max_draws` samples, since a collapsed model repeats itself forever.
        """
        gen = torch.Generator().manual_seed(seed)
        image = torch.from_numpy(target.astype(np.float32)[None, None] if target.ndim == 2
                                 else target.astype(np.float32).transpose(2, 0, 1)[None])
        feat = self.model.encode(image)
        seen: set[tuple] = set()

        def fresh(tokens) -> bool:
            if tokens is None or tuple(tokens) in seen:
                return False
            seen.add(tuple(tokens))
            return True

        greedy = sample_sequences(self.model, feat, self.constraint, 1, gen, greedy=True)[0]
        if fresh(greedy):
            yield greedy
        if self.beam > 1:
            for tokens, _ in beam_search(self.model, feat, self.constraint, self.beam):
                if fresh(tokens):
                    yield tokens
        draws = 0
        while draws < max_draws:
            for tokens in sample_sequences(self.model, feat, self.constraint, self.batch, gen, self.temperature):
                draws += 1
                if fresh(tokens):
                    yield tokens

    def search(self, target: np.ndarray, budget: int, seed: int = 0) -> BaselineResult:
        t0 = time.time()
        g, d = self.grammar, self.domain
        seen: set[str] = set()
        best = BaselineResult("", False, -math.inf, 0, 0.0)
        for tokens in self.programs(target, seed, max_draws=5 * budget):
            text = g.detokenize(tokens)
            if text in seen:
                continue
            seen.add(text)
            solved, score = d.goal(target, d.render(g.parse(text), target.shape[0]))
            if score > best.score or solved:
                best = BaselineResult(text, bool(solved), float(score), 0, 0.0)
            if best.solved or len(seen) >= budget:
                break
        best.nodes_expanded = len(seen)
        best.seconds = time.time() - t0
        return best


def load_csgnet(domain: Domain, path: str | Path | None = None, device: str = "cpu") -> CSGNet:
    """The CSGNet checkpoint at `path` (default: the shipped one) for `domain`."""
    model, _ = load_baseline(path, kind="csgnet", model_cls=CSGNet, config_cls=CSGNetConfig,
                             domain=domain.name, grammar_hash=domain.grammar.hash, device=device)
    return model


# ---------------------------------------------------------------------------- training
def _image_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack([im[None] if im.ndim == 2 else im.transpose(2, 0, 1) for im in images]))


def sequence_batch(sequences: list[list[int]], masks: list[np.ndarray], vocab: int):
    """Teacher-forcing tensors: inputs (BOS + tokens), targets (tokens + EOS), masks, validity."""
    B, T = len(sequences), max(len(s) for s in sequences) + 1
    inputs = np.zeros((B, T), dtype=np.int64)
    targets = np.zeros((B, T), dtype=np.int64)
    valid = np.zeros((B, T), dtype=bool)
    allowed = np.ones((B, T, vocab), dtype=bool)
    for b, (seq, mask) in enumerate(zip(sequences, masks)):
        n = len(seq) + 1
        inputs[b, :n] = [BOS] + seq
        targets[b, :n] = seq + [EOS]
        valid[b, :n] = True
        allowed[b, :n] = mask
    return tuple(torch.from_numpy(a) for a in (inputs, targets, allowed, valid))


def masked_loss(logits, targets, allowed, valid) -> torch.Tensor:
    """Cross-entropy over the grammar-allowed tokens only, at valid positions."""
    logits = logits.masked_fill(~allowed, NEG_INF)
    return F.cross_entropy(logits[valid], targets[valid])


class ProgramBatches:
    """Random programs rendered on the fly: (images, token sequences, allowed masks)."""

    def __init__(self, domain: Domain, image_size: int):
        self.domain = domain
        self.sampler = Sampler(domain.grammar)
        self.constraint = GrammarConstraint(ConstrainedDecoder(domain.grammar), domain.grammar.start)
        self.image_size = image_size

    def __call__(self, rng: random.Random, batch_size: int, max_tokens: int):
        d, g = self.domain, self.domain.grammar
        images, seqs, masks = [], [], []
        while len(seqs) < batch_size:
            node = self.sampler.sample_program(rng, d.min_primitives, d.max_primitives)
            tokens = g.tokens(node)
            if len(tokens) > max_tokens:
                continue
            images.append(d.render(node, self.image_size))
            seqs.append(tokens)
            masks.append(teacher_masks(self.constraint, tokens))
        return (_image_tensor(images), *sequence_batch(seqs, masks, len(g.vocab)))


def fit(model: nn.Module, batches, steps: int, lr: float, log_every: int, log=None,
        max_seconds: float | None = None, state_path: Path | None = None, save_every: int = 500,
        rng: random.Random | None = None) -> list[dict]:
    """Adam with linear warm-up and cosine decay; `batches()` returns (images, inputs, targets, allowed, valid).

    Stops early after `max_seconds` of training (a CPU-time budget), logging the last step.
    With `state_path`, every `save_every` steps the weights, optimiser, schedule, history and
    the data generator `rng` are saved there atomically, and a run that finds the file
    continues from it, so a killed run loses at most `save_every` steps.
    """
    from ..checkpoint import load_training_state, save_training_state

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    warmup = max(1, min(200, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0)))))
    history, running, t0 = [], [], time.time()
    first = 1
    if state_path is not None and state_path.exists():
        state = load_training_state(state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, first = list(state["history"]), int(state["step"]) + 1
        if rng is not None:
            rng.setstate(_as_tuple(state["rng"]))
        t0 -= history[-1]["seconds"] if history else 0.0
    model.train()
    for step in range(first, steps + 1):
        images, inputs, targets, allowed, valid = batches()
        loss = masked_loss(model(images, inputs), targets, allowed, valid)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running.append(loss.item())
        out_of_time = max_seconds is not None and time.time() - t0 > max_seconds
        if step % log_every == 0 or step == steps or out_of_time:
            row = {"step": step, "loss": round(float(np.mean(running)), 4), "seconds": round(time.time() - t0, 1)}
            history.append(row)
            running = []
            if log:
                log(row)
        if state_path is not None and step % save_every == 0 and step < steps:
            save_training_state(state_path, {
                "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "history": history, "rng": rng.getstate() if rng else None})
        if out_of_time:
            break
    model.eval()
    return history


def _as_tuple(state):
    """random.Random state back from a saved (list-ified) one."""
    return tuple(_as_tuple(x) for x in state) if isinstance(state, (list, tuple)) else state


def state_path_for(out: str | Path) -> Path:
    """Where a baseline's training state lives while it trains: beside the checkpoint stem."""
    from ..checkpoint import checkpoint_paths

    return checkpoint_paths(out)[0].with_suffix(".train_state.pt")


def train_csgnet(domain_name: str, out: str, steps: int, batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                 hidden: int = 256, image_features: int = 128, log_every: int = 50, quiet: bool = False,
                 max_seconds: float | None = None, resume: bool = False, save_every: int = 500) -> dict:
    """Train CSGNet on random programs and write `out`.safetensors + `out`.json."""
    domain = get_domain(domain_name)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    config = CSGNetConfig(vocab_size=len(domain.grammar.vocab), in_channels=domain.channels,
                          image_size=domain.model_size, image_features=image_features, hidden=hidden)
    model = CSGNet(config)
    data = ProgramBatches(domain, config.image_size)
    log = None if quiet else (lambda row: print(json.dumps(row), file=sys.stderr, flush=True))
    state = prepare_state(out, resume)
    history = fit(model, lambda: data(rng, batch_size, config.max_tokens), steps, lr, log_every, log, max_seconds,
                  state, save_every, rng)
    save_baseline(out, model, kind="csgnet", domain=domain.name, grammar_hash=domain.grammar.hash,
                  extra={"train": {"steps": history[-1]["step"], "batch_size": batch_size, "lr": lr, "seed": seed,
                                   "history": history}})
    state.unlink(missing_ok=True)
    return {"out": str(out), "steps": history[-1]["step"], "first_loss": history[0]["loss"],
            "final_loss": history[-1]["loss"]}


def prepare_state(out: str | Path, resume: bool) -> Path:
    """The training-state file for `out`: kept for --resume, otherwise a stale one is removed."""
    state = state_path_for(out)
    if resume and not state.exists():
        raise TreediffError(f"--resume: no training state at {state} (the run finished or never saved one)")
    if not resume:
        state.unlink(missing_ok=True)
    state.parent.mkdir(parents=True, exist_ok=True)
    return state


def train_main(argv: list[str] | None, kind: str, train_fn) -> int:
    """Shared ``python -m treediff.baselines.<kind> train ...`` entry point (CSGNet and REPL Flow)."""
    parser = argparse.ArgumentParser(prog=f"python -m treediff.baselines.{kind}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help=f"train the {kind} baseline on random programs rendered on the fly")
    p.add_argument("--domain", default="csg2d")
    p.add_argument("--out", required=True, help="checkpoint stem: writes OUT.safetensors and OUT.json")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--image-features", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--max-minutes", type=float, help="stop (and save) after this much training time")
    p.add_argument("--save-every", type=int, default=500, help="steps between training-state saves")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its saved training state")
    p.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.steps < 1 or args.batch_size < 1:
            raise TreediffError("--steps and --batch-size must be positive")
        torch.set_num_threads(max(1, args.threads))
        result = train_fn(args.domain, args.out, args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                          hidden=args.hidden, image_features=args.image_features, log_every=args.log_every,
                          quiet=args.quiet, max_seconds=60 * args.max_minutes if args.max_minutes else None,
                          resume=args.resume, save_every=max(1, args.save_every))
    except TreediffError as err:
        print(f"treediff: {err}", file=sys.stderr)
        return err.exit_code
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:], "csgnet", train_csgnet))
