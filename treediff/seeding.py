"""Start programs for tree-diffusion search, drawn from an autoregressive model.

Tree diffusion edits programs; it has to start from some. Random programs share nothing
with the target, so the first part of the budget goes to getting the rough layout right.
The reference seeds its search with samples from an autoregressive model instead; here that
model is the shipped CSGNet baseline (greedy program, then beam-search programs best first),
and each seed it gives counts against the search budget like any other program.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from .domains import Domain
from .grammar import Node


class ARSeeder:
    """Yields the first `n` distinct programs an autoregressive model writes for a target."""

    def __init__(self, domain: Domain, searcher):
        self.domain = domain
        self.searcher = searcher  # a baselines.csgnet.CSGNetSearcher

    def seeds(self, target: np.ndarray, n: int, seed: int = 0) -> list[Node]:
        g = self.domain.grammar
        return [g.parse(g.detokenize(tokens)) for tokens in itertools.islice(self.searcher.programs(target, seed), n)]


def load_seeder(domain: Domain, checkpoint: str | Path | None = None, device: str = "cpu") -> ARSeeder:
    """The CSGNet at `checkpoint` (default: the shipped one) as a seeder; errors if it does not fit."""
    from .baselines.csgnet import CSGNetSearcher, load_csgnet

    return ARSeeder(domain, CSGNetSearcher(domain, load_csgnet(domain, checkpoint, device)))


def shipped_seeder(domain: Domain, device: str = "cpu") -> ARSeeder | None:
    """The shipped CSGNet as a seeder if it was trained for this very grammar, else None.

    Silent on a mismatch: seeding is an optional speed-up, and a domain without its own
    autoregressive model (TinySVG, sketches, a user's grammar) searches from random programs.
    """
    from .baselines import default_baseline_checkpoint
    from .checkpoint import checkpoint_paths

    weights, meta = checkpoint_paths(default_baseline_checkpoint("csgnet"))
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if not weights.exists() or info.get("domain") != domain.name or info.get("grammar_hash") != domain.grammar.hash:
        return None
    return load_seeder(domain, weights, device)


def seeded_search(searcher, target: np.ndarray, cfg, seed: int = 0, seeder: ARSeeder | None = None,
                  n_seeds: int = 8, progress=None, detail: np.ndarray | None = None):
    """`searcher.search` started from `seeder`'s first `n_seeds` programs (random starts
    without a seeder); the result's seconds include the seeding, part of the answer's cost."""
    t0 = time.time()
    init = seeder.seeds(target, n_seeds, seed) if seeder is not None and n_seeds > 0 else None
    seeding_seconds = time.time() - t0
    result = searcher.search(target, cfg, seed=seed, init=init or None, progress=progress, detail=detail)
    result.seconds += seeding_seconds
    return result
