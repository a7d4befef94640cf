"""Random programs with an exact number of primitives, for any grammar.

Uses the grammar's feasibility bitmasks (which primitive counts each nonterminal and each
suffix of an alternative can derive) so every choice made on the way down can still be
completed: no rejection, no retries.
"""

from __future__ import annotations

import random

from .grammar import Grammar, Node

#: Beyond this depth the sampler takes the shallowest alternatives, so grammars with
#: zero-primitive recursion (lists, nested groups) still terminate quickly.
MAX_DEPTH = 24


class Sampler:
    def __init__(self, grammar: Grammar):
        self.grammar = grammar
        g = grammar
        # Per alternative: token choices for terminal symbols, precomputed once.
        self._token_choices = [
            [None if is_nt else g.terminal_token_ids[idx] for is_nt, idx in alt.symbols]
            for alt in g.alternatives
        ]

    def sample(self, rng: random.Random, primitives: int, nt: int | None = None) -> Node:
        """A random derivation of `nt` (default: the start rule) with exactly `primitives`."""
        g = self.grammar
        nt = g.start if nt is None else nt
        if not (g.feasible[nt] >> primitives) & 1:
            raise ValueError(f"{g.nonterminals[nt]} cannot derive exactly {primitives} primitives "
                             f"(possible: {g.counts(nt)[:12]})")
        return self._expand(rng, nt, primitives, 0)

    def sample_program(self, rng: random.Random, min_primitives: int, max_primitives: int) -> Node:
        """A program whose primitive count is uniform over the feasible counts in the range."""
        g = self.grammar
        counts = [k for k in range(min_primitives, max_primitives + 1) if (g.feasible[g.start] >> k) & 1]
        if not counts:
            raise ValueError(f"no program of {g.name} has {min_primitives}..{max_primitives} primitives")
        return self._expand(rng, g.start, rng.choice(counts), 0)

    def _expand(self, rng: random.Random, nt: int, k: int, depth: int) -> Node:
        g = self.grammar
        options = [a for a in g.alts_of[nt] if (g.alt_feasible[a] >> k) & 1]
        if depth > MAX_DEPTH and len(options) > 1:
            lowest = min(g.alt_height[a] for a in options)
            options = [a for a in options if g.alt_height[a] == lowest]
        alt_id = options[0] if len(options) == 1 else rng.choice(options)
        alt = g.alternatives[alt_id]
        remaining = k - 1 if alt.primitive else k
        suffix = g.alt_suffix[alt_id]
        choices = self._token_choices[alt_id]
        children = []
        for i, (is_nt, idx) in enumerate(alt.symbols):
            if not is_nt:
                tokens = choices[i]
                children.append(tokens[0] if len(tokens) == 1 else rng.choice(tokens))
                continue
            rest = suffix[i + 1]
            mask = g.feasible[idx]
            splits = [c for c in range(remaining + 1) if (mask >> c) & 1 and (rest >> (remaining - c)) & 1]
            c = splits[0] if len(splits) == 1 else rng.choice(splits)
            children.append(self._expand(rng, idx, c, depth + 1))
            remaining -= c
        return Node(nt, alt_id, tuple(children), alt.primitive)
