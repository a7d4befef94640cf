"""Exact-count sampling: every requested primitive count, every choice reachable, no retries."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from treediff.domains import available_domains, get_domain
from treediff.grammar import Grammar
from treediff.sampler import MAX_DEPTH, Sampler

HEADER = "// treediff: start = start\n// treediff: primitives = item\n"


@pytest.mark.parametrize("name", available_domains())
def test_every_feasible_count_is_hit_exactly(name):
    g = get_domain(name).grammar
    sampler = Sampler(g)
    rng = random.Random(0)
    for k in [c for c in g.counts(g.start) if c <= 12]:
        for _ in range(5):
            assert sampler.sample(rng, k).prims == k


def test_same_seed_same_programs_different_seed_different_programs():
    g = get_domain("csg2d").grammar
    sampler = Sampler(g)

    def draw(seed):
        rng = random.Random(seed)
        return [g.unparse(sampler.sample_program(rng, 2, 8)) for _ in range(20)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_infeasible_counts_raise():
    g = get_domain("csg2d").grammar
    sampler = Sampler(g)
    with pytest.raises(ValueError, match="cannot derive exactly 1 primitives"):
        sampler.sample(random.Random(0), 1, g.nt_index["binop"])
    with pytest.raises(ValueError, match="cannot derive exactly 0"):
        sampler.sample(random.Random(0), 0)
    pairs = Grammar(HEADER + 'start: "[" items "]"\nitems: item item | item item items\nitem: "x"\n')
    with pytest.raises(ValueError, match="no program"):
        Sampler(pairs).sample_program(random.Random(0), 3, 3)


def test_sample_program_counts_are_uniform_over_the_range():
    g = get_domain("csg2d").grammar
    sampler = Sampler(g)
    rng = random.Random(1)
    counts = Counter(sampler.sample_program(rng, 2, 8).prims for _ in range(2100))
    assert set(counts) == set(range(2, 9))
    assert all(230 < n < 370 for n in counts.values()), counts  # 300 expected each


def test_only_feasible_counts_are_drawn():
    pairs = Grammar(HEADER + 'start: "[" items "]"\nitems: item item | item item items\nitem: "x"\n')
    rng = random.Random(2)
    drawn = {Sampler(pairs).sample_program(rng, 1, 7).prims for _ in range(200)}
    assert drawn == {2, 4, 6}


def test_every_terminal_value_and_alternative_appears():
    g = get_domain("csg2d").grammar
    sampler = Sampler(g)
    rng = random.Random(3)
    seen_tokens, seen_alts = set(), set()
    for _ in range(300):
        stack = [sampler.sample_program(rng, 1, 4)]
        while stack:
            node = stack.pop()
            seen_alts.add(node.alt)
            for child in node.children:
                if type(child) is int:
                    seen_tokens.add(child)
                else:
                    stack.append(child)
    assert seen_alts == set(range(len(g.alternatives)))
    assert seen_tokens == set(range(4, len(g.vocab)))  # every id but the 4 specials


def test_zero_primitive_recursion_terminates():
    # `wrap` can nest forever without adding primitives; past MAX_DEPTH the sampler takes
    # the shallowest alternative, so sampling always finishes.
    g = Grammar(HEADER + 'start: wrap\nwrap: "(" wrap ")" | "<" wrap ">" | item\nitem: "x"\n%ignore " "\n')
    sampler = Sampler(g)
    rng = random.Random(4)
    for _ in range(200):
        tree = sampler.sample(rng, 1)
        text = g.unparse(tree)
        assert text.count("x") == 1
        assert text.count("(") + text.count("<") <= MAX_DEPTH + 2
        assert g.parse(text) == tree


def test_sampling_a_nonterminal():
    g = get_domain("tinysvg").grammar
    sampler = Sampler(g)
    rng = random.Random(5)
    move = g.nt_index["move"]
    assert g.min_cost[move] == 2  # a Move is a primitive around a shape
    for k in (2, 3, 4):
        node = sampler.sample(rng, k, move)
        assert node.nt == move and node.prims == k
        assert g.unparse(node).startswith("(Move ")
