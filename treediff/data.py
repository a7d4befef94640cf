"""Training pairs generated on the fly: (target image, current program + render) -> next edit.

One example: sample a clean target program, noise it with the mutator, compute the
reverse edit path back, pick a step of that path uniformly, and ask for the edit taken
there; the value target is the number of edits left. Generation runs in DataLoader worker
processes so the model never waits for data.
"""

from __future__ import annotations

import multiprocessing
import random
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .decoding import EOS, ConstrainedDecoder
from .domains import Domain
from .grammar import Grammar, Node, Site, ordinal_order
from .noise import Edit, Mutator, NoiseConfig
from .testsets import image_complexity


def image_to_chw(image: np.ndarray) -> np.ndarray:
    return image[None] if image.ndim == 2 else np.ascontiguousarray(image.transpose(2, 0, 1))


def site_kind(grammar: Grammar, site: Site) -> int:
    return site.nt if site.nt >= 0 else len(grammar.nonterminals) + site.terminal


def n_site_kinds(grammar: Grammar) -> int:
    return len(grammar.nonterminals) + len(grammar.terminals)


@dataclass
class Example:
    target: np.ndarray  # (C, S, S)
    current: np.ndarray  # (C, S, S)
    tokens: list[int]
    sites: list[Site]
    edit_site: int
    replacement_in: list[int]
    replacement_out: list[int]
    allowed: np.ndarray  # (len(replacement_out), V)
    steps_left: float
    edit_sites_ok: list[int] | None = None  # every site a correct next edit may start at (None: edit_site only)


class ProgramState:
    """A program with what the networks need of it: tokens and edit sites (computed once)."""

    __slots__ = ("node", "tokens", "sites", "kinds")

    def __init__(self, grammar: Grammar, node: Node):
        self.node = node
        self.tokens = grammar.tokens(node)
        self.sites = grammar.sites(node)
        self.kinds = [site_kind(grammar, s) for s in self.sites]


def replacement_targets(grammar: Grammar, decoder: ConstrainedDecoder, edit: Edit):
    """Decoder input, output and allowed-token masks for one edit (teacher forcing).

    A token site takes exactly one token of its terminal; a subtree site takes a derivation
    of its nonterminal followed by ``<eos>``.
    """
    site = edit.site
    if site.nt < 0:
        mask = np.zeros((1, decoder.vocab_size), dtype=bool)
        mask[0, grammar.terminal_token_ids[site.terminal]] = True
        return [], [edit.new], mask
    tokens = grammar.tokens(edit.new)
    return tokens, tokens + [EOS], decoder.masks_for(site.nt, tokens)


TARGETS = ("reverse", "undo")


class ExampleGenerator:
    """Training examples for one domain.

    ``targets`` says which edit the networks learn: "reverse" (the default) is the next edit
    of the reverse path from the noisy program to the clean one; "undo" reverts the last
    mutation made (the paper's ablation; fresh random programs are not used then, as they
    have no mutation to revert).
    """

    def __init__(self, domain: Domain, noise: NoiseConfig | None = None, image_size: int | None = None,
                 min_primitives: int | None = None, max_primitives: int | None = None, targets: str = "reverse"):
        if targets not in TARGETS:
            raise ValueError(f"unknown training targets '{targets}'; choices: {', '.join(TARGETS)}")
        self.targets = targets
        self.domain = domain
        self.grammar = domain.grammar
        # A copy: the curriculum changes the generator's size range, never the caller's config.
        self.noise = replace(noise) if noise else NoiseConfig(min_primitives=domain.min_primitives,
                                                              max_primitives=domain.max_primitives)
        self.mutator = Mutator(self.grammar, self.noise)
        self.decoder = ConstrainedDecoder(self.grammar)
        self.image_size = image_size or domain.model_size
        self.min_primitives = min_primitives or domain.min_primitives
        self.max_primitives = max_primitives or domain.max_primitives

    def render(self, node: Node) -> np.ndarray:
        return image_to_chw(self.domain.render(node, self.image_size))

    def target_image(self, node: Node, rng: random.Random, clean_image: np.ndarray) -> np.ndarray:
        """The target as the networks see it: the clean render, or the domain's own drawing of
        the program when it has one (``csg2d-sketch`` draws a simulated hand sketch)."""
        draw = getattr(self.domain, "target_image", None)
        return image_to_chw(draw(node, rng, self.image_size)) if draw is not None else clean_image

    def example(self, rng: random.Random) -> Example:
        g = self.grammar
        while True:
            clean = self.mutator.sampler.sample_program(rng, self.min_primitives, self.max_primitives)
            clean_image = self.render(clean)
            if self.domain.min_complexity and image_complexity(clean_image[0] if clean_image.shape[0] == 1
                                                               else clean_image.transpose(1, 2, 0)) \
                    < self.domain.min_complexity:
                continue
            if self.targets == "undo":
                noisy, path = self.mutator.undo_path(rng, clean, rng.randint(1, self.noise.max_steps))
            else:
                noisy = self.mutator.add_noise(rng, clean)
                path = self.mutator.reverse_path(noisy, clean)
            if path:
                break
        step = rng.randrange(len(path))
        current = noisy
        for edit in path[:step]:
            current = edit.apply(g, current)
        edit = path[step]
        state = ProgramState(g, current)
        index = next(i for i, s in enumerate(state.sites) if s.path == edit.site.path)
        rep_in, rep_out, allowed = replacement_targets(g, self.decoder, edit)
        ok = [index]
        if self.targets == "reverse":  # any difference may be fixed first; "undo" names one edit
            paths = self.mutator.next_edit_paths(current, clean)
            ok = [i for i, s in enumerate(state.sites) if s.path in paths]
        return Example(self.target_image(clean, rng, clean_image), self.render(current), state.tokens, state.sites, index,
                       rep_in, rep_out, allowed, float(len(path) - step), ok)


def ordinal_soft_targets(grammar: Grammar, smoothing: float, width: float = 1.0) -> np.ndarray:
    """(V, V) training target distributions per gold token: one-hot, except for ordered values.

    A number one step off is nearly right (the shape is almost in place, and search polishes
    the rest), but one-hot cross-entropy gives it no credit; mixing in a Gaussian over the
    neighbouring values (weight `smoothing`, std `width` steps) rewards coarse positions
    first, which is what reading numbers off an image is learned through.
    """
    V = len(grammar.vocab)
    soft = np.eye(V, dtype=np.float32)
    if smoothing <= 0:
        return soft
    for t, term in enumerate(grammar.terminals):
        order = ordinal_order(term)
        if order is None:
            continue
        ids = [grammar.token_id[(t, v)] for v in order]
        steps = np.arange(len(ids), dtype=np.float32)
        for i, tok in enumerate(ids):
            bump = np.exp(-0.5 * ((steps - i) / width) ** 2)
            row = (1 - smoothing) * (steps == i) + smoothing * bump / bump.sum()
            soft[tok] = 0.0
            soft[tok, ids] = row
    return soft


def collate(examples: list[Example], grammar: Grammar, soft_targets: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Pad and stack examples; with `soft_targets` (see `ordinal_soft_targets`) the batch also
    carries the replacement tokens' target distributions."""
    B = len(examples)
    L = max(len(e.tokens) for e in examples)
    M = max(len(e.sites) for e in examples)
    R = max(len(e.replacement_in) for e in examples)
    V = len(grammar.vocab)
    tokens = np.zeros((B, L), dtype=np.int64)
    site_start = np.zeros((B, M), dtype=np.int64)
    site_end = np.ones((B, M), dtype=np.int64)
    kinds = np.zeros((B, M), dtype=np.int64)
    site_valid = np.zeros((B, M), dtype=bool)
    site_ok = np.zeros((B, M), dtype=bool)
    rep_in = np.zeros((B, R), dtype=np.int64)
    rep_out = np.zeros((B, R + 1), dtype=np.int64)
    rep_valid = np.zeros((B, R + 1), dtype=bool)
    allowed = np.ones((B, R + 1, V), dtype=bool)
    for b, e in enumerate(examples):
        tokens[b, :len(e.tokens)] = e.tokens
        for m, s in enumerate(e.sites):
            site_start[b, m], site_end[b, m] = s.start, s.end
            kinds[b, m] = site_kind(grammar, s)
        site_valid[b, :len(e.sites)] = True
        site_ok[b, e.edit_sites_ok if e.edit_sites_ok is not None else [e.edit_site]] = True
        rep_in[b, :len(e.replacement_in)] = e.replacement_in
        n = len(e.replacement_out)
        rep_out[b, :n] = e.replacement_out
        rep_valid[b, :n] = True
        allowed[b, :n] = e.allowed
    batch = {
        "target": torch.from_numpy(np.stack([e.target for e in examples])),
        "current": torch.from_numpy(np.stack([e.current for e in examples])),
        "tokens": torch.from_numpy(tokens),
        "site_start": torch.from_numpy(site_start),
        "site_end": torch.from_numpy(site_end),
        "site_kind": torch.from_numpy(kinds),
        "site_valid": torch.from_numpy(site_valid),
        "edit_site": torch.tensor([e.edit_site for e in examples], dtype=torch.long),
        "edit_site_ok": torch.from_numpy(site_ok),
        "replacement_in": torch.from_numpy(rep_in),
        "replacement_out": torch.from_numpy(rep_out),
        "replacement_valid": torch.from_numpy(rep_valid),
        "replacement_allowed": torch.from_numpy(allowed),
        "steps_left": torch.tensor([e.steps_left for e in examples], dtype=torch.float32),
    }
    if soft_targets is not None:
        soft = soft_targets[rep_out] * allowed
        batch["replacement_soft"] = torch.from_numpy(soft / np.maximum(soft.sum(-1, keepdims=True), 1e-12))
    return batch


class EditStream(IterableDataset):
    """An endless stream of collated batches; each worker (and DDP rank) has its own seed."""

    def __init__(self, domain_name: str, batch_size: int, seed: int, rank: int = 0,
                 noise: NoiseConfig | None = None, image_size: int | None = None,
                 max_primitives: int | None = None, targets: str = "reverse", ordinal_smoothing: float = 0.0):
        self.domain_name = domain_name
        self.targets = targets
        self.ordinal_smoothing = ordinal_smoothing
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.noise = noise
        self.image_size = image_size
        self.max_primitives = max_primitives
        # Curriculum: the trainer raises this shared value; workers read it per batch pool.
        self.curriculum = multiprocessing.Value("i", max_primitives or 0)

    def apply_curriculum(self, gen: ExampleGenerator) -> None:
        """Set a generator's target (and fresh-noise) size range from the shared curriculum value."""
        if self.curriculum.value:
            # Below the domain's smallest target the curriculum shrinks both ends, so the
            # first steps see one shape at a time: reading a lone shape's numbers off the
            # image is learned in a few hundred steps, and it is what binding a shape among
            # many builds on (started at 2-3 shapes, number loss stayed at chance for 9k steps).
            feasible = gen.grammar.feasible[gen.grammar.start]
            smallest_program = (feasible & -feasible).bit_length() - 1
            gen.max_primitives = max(smallest_program, self.curriculum.value)
            gen.min_primitives = min(gen.domain.min_primitives, gen.max_primitives)
            gen.noise.min_primitives = gen.min_primitives
            gen.noise.max_primitives = gen.max_primitives

    def __iter__(self):
        from .domains import get_domain

        torch.set_num_threads(1)
        info = get_worker_info()
        worker = info.id if info is not None else 0
        rng = random.Random(hash((self.seed, self.rank, worker)) & 0xFFFFFFFF)
        gen = ExampleGenerator(get_domain(self.domain_name), self.noise, self.image_size,
                               max_primitives=self.max_primitives, targets=self.targets)
        soft = ordinal_soft_targets(gen.grammar, self.ordinal_smoothing) if self.ordinal_smoothing > 0 else None
        while True:
            # Generate several batches at once and group similar lengths: less padding.
            self.apply_curriculum(gen)
            pool = sorted((gen.example(rng) for _ in range(4 * self.batch_size)), key=lambda e: len(e.tokens))
            batches = [pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
            rng.shuffle(batches)
            for batch in batches:
                yield collate(batch, gen.grammar, soft)
