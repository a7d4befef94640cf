"""REPL Flow (Ellis et al. 2019, as re-implemented in the tree-diffusion paper), for CSG2D.

A program is flattened into shapes added left to right, each with the operator that
combines it with everything before (``A - B + C`` = ``(+ (- A B) C)``), the way the
reference renderer reads nested programs. At each step a network sees the target and the
render of the program so far (the "REPL" output) and writes the next shape: its operator
token, then the shape's tokens, or ``<eos>`` to stop. The network is CSGNet's (conv encoder
+ GRU decoder, `csgnet.py`) reading [target, current, |target - current|]; its output is
constrained by the same grammar tables as tree diffusion, with the operator terminal
forbidden inside a shape, so every shape is a single primitive.

Search = sampled rollouts; every distinct prefix program rendered along the way is a node.
Needs a grammar with a CSG-like binary rule (``binop: "(" OP s s ")"``): checked on load.

Train: ``python -m treediff.baselines.repl train --out treediff/checkpoints/baselines/repl --steps 20000``.
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..decoding import EOS, ConstrainedDecoder
from ..domains import Domain, get_domain
from ..errors import TreediffError
from ..grammar import Grammar, Node
from ..sampler import Sampler
from . import BaselineResult, load_baseline, save_baseline
from .csgnet import (CSGNet, CSGNetConfig, _image_tensor, fit, prepare_state, sample_sequences, sequence_batch,
                     teacher_masks, train_main)


class ShapeList:
    """Flattening programs into (operator token, primitive) lists and building them back."""

    def __init__(self, grammar: Grammar):
        g = self.grammar = grammar
        self.start = g.start
        binops = [a for a in g.alternatives
                  if sum(is_nt for is_nt, _ in a.symbols) == 2
                  and sum(not is_nt and not g.terminals[i].literal for is_nt, i in a.symbols) == 1]
        self.wrap = {a.symbols[0][1]: a.index for a in map(g.alternatives.__getitem__, g.alts_of[g.start])
                     if len(a.symbols) == 1 and a.symbols[0][0]}
        if len(binops) != 1 or binops[0].origin not in self.wrap:
            raise TreediffError(f"the repl baseline needs a CSG-like grammar (one binary rule with an operator "
                                f"terminal, e.g. binop: \"(\" OP s s \")\"); {g.name} has none")
        self.binop = binops[0]
        self.op_terminal = next(i for is_nt, i in self.binop.symbols if not is_nt and not g.terminals[i].literal)
        self.op_tokens = g.terminal_token_ids[self.op_terminal]
        self.first_op = self.op_tokens[0]  # the first shape's operator is meaningless: always the first one ("+")

    def flatten(self, node: Node, op: int | None = None) -> list[tuple[int, Node]]:
        """[(operator token, primitive node)] left to right; an operand on the left inherits the outer operator."""
        op = self.first_op if op is None else op
        if self.grammar.alternatives[node.alt].primitive:
            return [(op, node)]
        subtrees = [c for c in node.children if type(c) is not int]
        if node.alt == self.binop.index:
            node_op = next(c for c in node.children
                           if type(c) is int and self.grammar.token_terminal[c] == self.op_terminal)
            return self.flatten(subtrees[0], op) + self.flatten(subtrees[1], node_op)
        return self.flatten(subtrees[0], op)

    def as_start(self, node: Node) -> Node:
        """`node` (a primitive or binop) as a derivation of the start rule."""
        return node if node.nt == self.start else self.grammar.build(self.wrap[node.nt], [node])

    def combine(self, left: Node | None, op: int, shape: Node) -> Node:
        """``(op left shape)`` as a start-rule derivation (just `shape` when there is nothing before)."""
        if left is None:
            return self.as_start(shape)
        g, children, operands = self.grammar, [], iter((left, self.as_start(shape)))
        for is_nt, i in self.binop.symbols:
            if is_nt:
                children.append(next(operands))
            elif i == self.op_terminal:
                children.append(op)
            else:
                children.append(g.terminal_token_ids[i][0])
        return self.as_start(g.build(self.binop.index, children))

    def build(self, shapes: list[tuple[int, Node]]) -> Node | None:
        node = None
        for op, shape in shapes:
            node = self.combine(node, op, shape)
        return node


class NextShapeConstraint:
    """Allowed tokens for one step: an operator (or ``<eos>`` to stop), then one primitive."""

    def __init__(self, shapes: ShapeList, decoder: ConstrainedDecoder, first: bool):
        self.shapes = shapes
        self.decoder = decoder
        self.first = first
        self.op_mask = np.zeros(decoder.vocab_size, dtype=bool)
        self.op_mask[shapes.op_tokens] = True
        self.start_mask = np.zeros(decoder.vocab_size, dtype=bool)
        if first:
            self.start_mask[shapes.first_op] = True
        else:
            self.start_mask[shapes.op_tokens] = True
            self.start_mask[EOS] = True
        self._cache: dict = {}

    def initial(self):
        return None

    def allowed(self, state) -> np.ndarray:
        if state is None:
            return self.start_mask
        mask = self._cache.get(state)
        if mask is None:
            mask = self._cache[state] = self.decoder.allowed(state) & ~self.op_mask
        return mask

    def advance(self, state, token: int):
        return self.decoder.initial(self.shapes.start) if state is None else self.decoder.advance(state, token)


def _inputs(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """[target, current, |target - current|] stacked on the last axis (grey) or channels (RGB)."""
    t, c = (target[..., None], current[..., None]) if target.ndim == 2 else (target, current)
    return np.concatenate([t, c, np.abs(t - c)], axis=-1)


class REPLSearcher:
    """Sampled rollouts of REPL Flow under a node budget (each distinct rendered prefix = one node).

    Rollouts run `batch` at a time in a fixed order from the seed, so the result at a small
    budget is a prefix of the run at a large one.
    """

    def __init__(self, domain: Domain, model: CSGNet, temperature: float = 1.0, batch: int = 16):
        self.domain = domain
        self.grammar = domain.grammar
        self.model = model.eval()
        self.shapes = ShapeList(self.grammar)
        decoder = ConstrainedDecoder(self.grammar)
        self.constraints = {first: NextShapeConstraint(self.shapes, decoder, first) for first in (True, False)}
        self.temperature = temperature
        self.batch = batch
        self.max_shapes = domain.max_primitives + 2

    @torch.no_grad()
    def search(self, target: np.ndarray, budget: int, seed: int = 0) -> BaselineResult:
        t0 = time.time()
        g, d = self.grammar, self.domain
        gen = torch.Generator().manual_seed(seed)
        target = target.astype(np.float32)
        size = target.shape[0]
        seen: dict[str, np.ndarray] = {}
        best = BaselineResult("", False, -math.inf, 0, 0.0)
        rollouts = 0
        while not best.solved and len(seen) < budget and rollouts < 5 * budget:
            rollouts += self.batch
            programs: list[Node | None] = [None] * self.batch
            images = [np.zeros_like(target) for _ in range(self.batch)]
            active = list(range(self.batch))
            for k in range(self.max_shapes):
                if not active or best.solved or len(seen) >= budget:
                    break
                feat = self.model.encode(_image_tensor([_inputs(target, images[i]) for i in active]))
                seqs = sample_sequences(self.model, feat, self.constraints[k == 0], len(active), gen, self.temperature)
                still = []
                for i, seq in zip(active, seqs):
                    if not seq:  # <eos> (stop) or an over-long sample
                        continue
                    shape = g.parse(g.detokenize(seq[1:]), self.shapes.start)
                    programs[i] = self.shapes.combine(programs[i], seq[0], shape)
                    text = g.unparse(programs[i])
                    image = seen.get(text)
                    if image is None:
                        image = seen[text] = d.render(programs[i], size)
                        solved, score = d.goal(target, image)
                        if score > best.score or solved:
                            best = BaselineResult(text, bool(solved), float(score), 0, 0.0)
                        if best.solved or len(seen) >= budget:
                            break
                    images[i] = image
                    still.append(i)
                active = still
        best.nodes_expanded = len(seen)
        best.seconds = time.time() - t0
        return best


def load_repl(domain: Domain, path: str | Path | None = None, device: str = "cpu") -> CSGNet:
    """The REPL Flow checkpoint at `path` (default: the shipped one) for `domain`."""
    ShapeList(domain.grammar)  # fail early on a grammar REPL Flow cannot flatten
    model, _ = load_baseline(path, kind="repl", model_cls=CSGNet, config_cls=CSGNetConfig,
                             domain=domain.name, grammar_hash=domain.grammar.hash, device=device)
    return model


class NextShapeBatches:
    """Training steps: a random program, flattened; a random prefix rendered; the next shape (or stop)."""

    def __init__(self, domain: Domain, image_size: int):
        self.domain = domain
        self.sampler = Sampler(domain.grammar)
        self.shapes = ShapeList(domain.grammar)
        decoder = ConstrainedDecoder(domain.grammar)
        self.constraints = {first: NextShapeConstraint(self.shapes, decoder, first) for first in (True, False)}
        self.image_size = image_size

    def __call__(self, rng: random.Random, batch_size: int):
        d, g = self.domain, self.domain.grammar
        inputs, seqs, masks = [], [], []
        for _ in range(batch_size):
            shapes = self.shapes.flatten(self.sampler.sample_program(rng, d.min_primitives, d.max_primitives))
            k = rng.randint(0, len(shapes))
            target = d.render(self.shapes.build(shapes), self.image_size)
            current = d.render(self.shapes.build(shapes[:k]), self.image_size) if k else np.zeros_like(target)
            seq = [shapes[k][0] if k else self.shapes.first_op] + g.tokens(shapes[k][1]) if k < len(shapes) else []
            inputs.append(_inputs(target, current))
            seqs.append(seq)
            masks.append(teacher_masks(self.constraints[k == 0], seq))
        return (_image_tensor(inputs), *sequence_batch(seqs, masks, len(g.vocab)))


def train_repl(domain_name: str, out: str, steps: int, batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
               hidden: int = 256, image_features: int = 128, log_every: int = 50, quiet: bool = False,
               max_seconds: float | None = None, resume: bool = False, save_every: int = 500) -> dict:
    """Train the REPL Flow next-shape network and write `out`.safetensors + `out`.json."""
    import json

    domain = get_domain(domain_name)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    config = CSGNetConfig(vocab_size=len(domain.grammar.vocab), in_channels=3 * domain.channels,
                          image_size=domain.model_size, image_features=image_features, hidden=hidden, max_tokens=24)
    model = CSGNet(config)
    data = NextShapeBatches(domain, config.image_size)
    log = None if quiet else (lambda row: print(json.dumps(row), file=sys.stderr, flush=True))
    state = prepare_state(out, resume)
    history = fit(model, lambda: data(rng, batch_size), steps, lr, log_every, log, max_seconds, state, save_every,
                  rng)
    save_baseline(out, model, kind="repl", domain=domain.name, grammar_hash=domain.grammar.hash,
                  extra={"train": {"steps": history[-1]["step"], "batch_size": batch_size, "lr": lr, "seed": seed,
                                   "history": history}})
    state.unlink(missing_ok=True)
    return {"out": str(out), "steps": history[-1]["step"], "first_loss": history[0]["loss"],
            "final_loss": history[-1]["loss"]}


if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:], "repl", train_repl))
