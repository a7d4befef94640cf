"""Random-mutation hill climbing: the non-neural baseline, with the same Mutator and budget.

Start from a random program; propose one mutation at a time (the same noise edits the
networks are trained to undo) and accept it when the goal score does not decrease, so the
climb can drift across plateaus. Budget = distinct programs rendered and checked, as in
tree-diffusion search; a mutation that gives an already seen program costs nothing but is
still accepted or rejected by its (cached) score.
"""

from __future__ import annotations

import random
import time

import numpy as np

from ..domains import Domain
from ..noise import Mutator, NoiseConfig
from ..sampler import Sampler
from . import BaselineResult

#: Proposals per budget unit before giving up (every neighbour already seen).
MAX_PROPOSALS_PER_NODE = 50


class HillClimber:
    """Searches for one domain; `search` is deterministic given the seed and independent of
    the budget except for where it stops (so one run gives the solve rate at every smaller budget)."""

    def __init__(self, domain: Domain, sigma: int = 2):
        self.domain = domain
        self.grammar = domain.grammar
        self.sampler = Sampler(self.grammar)
        self.mutator = Mutator(self.grammar, NoiseConfig(sigma=sigma, min_primitives=domain.min_primitives,
                                                         max_primitives=domain.max_primitives), self.sampler)

    def search(self, target: np.ndarray, budget: int, seed: int = 0) -> BaselineResult:
        t0 = time.time()
        rng = random.Random(seed)
        d, g = self.domain, self.grammar
        size = target.shape[0]
        scores: dict[str, tuple[bool, float]] = {}

        def check(node):
            text = g.unparse(node)
            hit = scores.get(text)
            if hit is None:
                hit = d.goal(target, d.render(node, size))
                scores[text] = hit
            return text, hit

        current = self.sampler.sample_program(rng, d.min_primitives, d.max_primitives)
        text, (solved, score) = check(current)
        best = (score, text, current)
        proposals = 0
        while not solved and len(scores) < budget and proposals < MAX_PROPOSALS_PER_NODE * budget:
            proposals += 1
            candidate, _ = self.mutator.mutate(rng, current)
            text, (cand_solved, cand_score) = check(candidate)
            if cand_score >= score:
                current, score, solved = candidate, cand_score, cand_solved
                if score > best[0] or solved:
                    best = (score, text, current)
        return BaselineResult(program=best[1], solved=bool(solved), score=float(best[0]),
                              nodes_expanded=len(scores), seconds=time.time() - t0)
