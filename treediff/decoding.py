"""Grammar-constrained decoding: which tokens may come next, from Lark's LALR tables.

Lark's interactive parser answers "which terminals are acceptable now?" by copying the
parser and trying each terminal, which dominated search time in the reference. Here the
parse state is just the LALR state stack (a tuple of ints); the allowed-token mask for a
stack is computed once, by running the table's reductions for each candidate terminal,
and cached. Decoding a batch of beams then costs one dict lookup per token.

A replacement for a subtree site is a derivation of that site's nonterminal; the decoder
starts from Lark's start state for that nonterminal (the normalised grammar has one start
per nonterminal) and may emit ``<eos>`` only where the derivation is complete.
"""

from __future__ import annotations

import numpy as np
from lark.parsers.lalr_analysis import Shift

from .grammar import Grammar

EOS = 2  # matches Grammar.specials: ("<pad>", "<bos>", "<eos>", "<sep>")
_END = "$END"


class ConstrainedDecoder:
    """Per-grammar LALR tables with cached next-token masks."""

    def __init__(self, grammar: Grammar):
        self.grammar = grammar
        table = grammar.lark.parse_interactive(start=f"n{grammar.start}").parser_state.parse_conf.parse_table
        self.states = table.states
        self.start_state = [table.start_states[f"n{nt}"] for nt in range(len(grammar.nonterminals))]
        self.end_state = [table.end_states[f"n{nt}"] for nt in range(len(grammar.nonterminals))]
        self.vocab_size = len(grammar.vocab)
        # Terminal name in the normalised grammar ("T3") for each vocabulary id.
        self._term_name = [f"T{t}" if t >= 0 else None for t in grammar.token_terminal]
        self._mask_cache: dict[tuple, np.ndarray] = {}
        self._step_cache: dict[tuple, tuple | None] = {}

    def initial(self, nt: int) -> tuple:
        """The parse state before the first token of a derivation of `nt`."""
        return (nt, self.start_state[nt])

    def _feed(self, state: tuple, terminal: str) -> tuple | None:
        """The state after shifting `terminal` (running reductions first), or None if invalid."""
        key = (state, terminal)
        if key in self._step_cache:
            return self._step_cache[key]
        nt, stack = state[0], list(state[1:])
        result = None
        while True:
            action = self.states[stack[-1]].get(terminal)
            if action is None:
                break
            kind, arg = action
            if kind is Shift:
                stack.append(arg)
                result = (nt, *stack)
                break
            size = len(arg.expansion)
            if size:
                del stack[-size:]
            if terminal == _END and not stack:
                break
            goto = self.states[stack[-1]].get(arg.origin.name)
            if goto is None:
                break
            stack.append(goto[1])
            if terminal == _END and stack[-1] == self.end_state[nt]:
                result = (nt, *stack)
                break
        self._step_cache[key] = result
        return result

    def allowed(self, state: tuple) -> np.ndarray:
        """Boolean mask over the vocabulary of tokens that may come next (``<eos>`` included)."""
        mask = self._mask_cache.get(state)
        if mask is not None:
            return mask
        mask = np.zeros(self.vocab_size, dtype=bool)
        g = self.grammar
        for name in self.states[state[-1]]:
            if name.startswith("T") and self._feed(state, name) is not None:
                mask[g.terminal_token_ids[int(name[1:])]] = True
        if state[-1] == self.end_state[state[0]] or self._feed(state, _END) is not None:
            mask[EOS] = True
        self._mask_cache[state] = mask
        return mask

    def advance(self, state: tuple, token: int) -> tuple:
        """The state after `token`; the token must be allowed."""
        new = self._feed(state, self._term_name[token])
        if new is None:
            raise ValueError(f"token {self.grammar.token_text[token]!r} is not allowed here")
        return new

    def masks_for(self, nt: int, tokens: list[int]) -> np.ndarray:
        """Masks for teacher forcing: row i = what may follow tokens[:i]; the last row allows EOS."""
        out = np.zeros((len(tokens) + 1, self.vocab_size), dtype=bool)
        state = self.initial(nt)
        for i, tok in enumerate(tokens):
            out[i] = self.allowed(state)
            state = self.advance(state, tok)
        out[len(tokens)] = self.allowed(state)
        return out
