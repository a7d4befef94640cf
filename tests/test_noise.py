"""The mutator: forward noise, reverse paths, skeletons; a hypothesis property test and the
100k-mutation validity invariant for every distinct grammar."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_contract import check_single_edit
from treediff.domains import available_domains, get_domain
from treediff.grammar import Grammar
from treediff.noise import Mutator, NoiseConfig
from treediff.sampler import Sampler

DOMAINS = available_domains()


def one_domain_per_grammar(names: list[str]) -> list[str]:
    """Domains that share a grammar (csg2d, csg2d-sketch) share a mutator: keep the first."""
    seen, keep = set(), []
    for name in names:
        grammar_hash = get_domain(name).grammar.hash
        if grammar_hash not in seen:
            seen.add(grammar_hash)
            keep.append(name)
    return keep


GRAMMAR_DOMAINS = one_domain_per_grammar(DOMAINS)


@pytest.fixture(scope="module")
def csg():
    return get_domain("csg2d").grammar


def test_equal_programs_need_no_edit(csg):
    mutator = Mutator(csg)
    tree = csg.parse("(+ (Circle 1 2 3) (Quad 4 5 6 7 H))")
    assert mutator.next_edit(tree, csg.parse(csg.unparse(tree))) is None
    assert mutator.reverse_path(tree, tree) == []


def test_one_wrong_number_is_one_token_edit(csg):
    mutator = Mutator(csg)
    clean = csg.parse("(+ (Circle 1 2 3) (Quad 4 5 6 7 H))")
    noisy = csg.parse("(+ (Circle 1 2 4) (Quad 4 5 6 7 H))")
    path = mutator.reverse_path(noisy, clean)
    assert len(path) == 1
    edit = path[0]
    assert edit.site.nt == -1 and csg.token_text[edit.new] == "3"
    assert (edit.site.start, edit.site.end) == (6, 7)  # tokens: ( + ( Circle 1 2 [4]


def test_several_differences_in_a_small_subtree_are_fixed_at_once(csg):
    mutator = Mutator(csg)
    clean = csg.parse("(+ (Circle 1 2 3) (Quad 4 5 6 7 H))")
    path = mutator.reverse_path(csg.parse("(+ (Circle 9 9 3) (Quad 4 5 6 7 H))"), clean)
    assert len(path) == 1 and csg.unparse(path[0].new) == "(Circle 1 2 3)"
    # Differences in both children of a 2-primitive program: the whole program at once.
    path = mutator.reverse_path(csg.parse("(- (Circle 9 2 3) (Quad 4 5 6 7 I))"), clean)
    assert len(path) == 1 and path[0].site.path == () and path[0].new == clean


def test_every_independent_difference_is_a_correct_first_edit(csg):
    """Two wrong shapes far apart: fixing either first is right, and each site found there
    differs from the clean program, with the leftmost (the reverse path's) among them."""
    mutator = Mutator(csg, NoiseConfig(sigma=1))
    clean = csg.parse("(+ (- (Circle 1 2 3) (Circle 4 4 4)) (+ (Quad 4 5 6 7 H) (Circle 8 8 8)))")
    noisy = csg.parse("(+ (- (Circle 1 2 9) (Circle 4 4 4)) (+ (Quad 4 5 6 7 H) (Circle 8 8 1)))")
    paths = mutator.next_edit_paths(noisy, clean)
    assert len(paths) == 2
    assert mutator.next_edit(noisy, clean).site.path in paths
    for path in paths:
        assert csg.get(noisy, path) != csg.get(clean, path)
    assert mutator.next_edit_paths(clean, clean) == set()
    rng = random.Random(3)
    sampler = Sampler(csg)
    for _ in range(200):  # the canonical site is always in the set
        c = sampler.sample_program(rng, 2, 8)
        n = mutator.add_noise(rng, c)
        if n != c:
            assert mutator.next_edit(n, c).site.path in mutator.next_edit_paths(n, c)


def test_big_differences_are_approached_through_small_skeletons(csg):
    mutator = Mutator(csg, NoiseConfig(sigma=2))
    clean = csg.parse("(- (+ (Circle 4 8 8) (Quad 3 3 2 2 H)) (+ (Circle 1 9 9) (- (Quad 9 4 2 6 G) "
                      "(Circle 2 A 4))))")
    noisy = csg.parse("(Circle 1 1 1)")
    path = mutator.reverse_path(noisy, clean)
    assert len(path) >= 3
    current = noisy
    for edit in path:
        assert edit.replacement_tokens(csg) and (type(edit.new) is int or edit.new.prims <= 2)
        current = edit.apply(csg, current)
    assert current == clean


def test_skeleton_keeps_the_top_production_within_budget(csg):
    mutator = Mutator(csg)
    big = csg.parse("(- (+ (Circle 4 8 8) (Quad 3 3 2 2 H)) (+ (Circle 1 9 9) (Circle 2 A 4)))")
    for budget in (2, 3):
        sk = mutator.skeleton(big, budget)
        assert sk.prims <= budget and sk.alt == big.alt
        assert csg.unparse(sk).startswith("(- ")
        assert csg.parse(csg.unparse(sk)) == sk
    assert mutator.skeleton(big, 4) is big
    # The stubs reuse the program's own material (its first shapes), not random ones.
    assert csg.unparse(mutator.skeleton(big, 2)) == "(- (Circle 4 8 8) (Circle 1 9 9))"


def test_sigma_zero_only_edits_tokens(csg):
    mutator = Mutator(csg, NoiseConfig(sigma=0))
    rng = random.Random(0)
    tree = csg.parse("(+ (Circle 1 2 3) (Quad 4 5 6 7 H))")
    for _ in range(50):
        after, edit = mutator.mutate(rng, tree)
        assert edit.site.nt == -1 and type(edit.new) is int
        assert after.prims == 2


def test_mutation_needs_an_editable_site():
    g = Grammar('// treediff: primitives = item\nstart: item\nitem: "x"\n')
    with pytest.raises(ValueError, match="no site"):
        Mutator(g).mutate(random.Random(0), g.parse("x"))


def test_add_noise_forward_process(csg):
    rng = random.Random(1)
    sampler = Sampler(csg)
    mixed = Mutator(csg, NoiseConfig(random_mix=1.0, min_primitives=3, max_primitives=3))
    clean = csg.parse("(Circle 1 2 3)")
    assert all(mixed.add_noise(rng, clean).prims == 3 for _ in range(20))
    local = Mutator(csg, NoiseConfig(random_mix=0.0, max_steps=5))
    changed = 0
    for _ in range(100):
        target = sampler.sample_program(rng, 2, 8)
        noisy = local.add_noise(rng, target)
        changed += noisy != target
        assert 1 <= len(local.reverse_path(noisy, target)) <= 5 * 3  # a few edits per mutation
    assert changed >= 95
    one = local.add_noise(rng, clean, steps=1)
    assert one != clean and len(local.reverse_path(one, clean)) == 1


@pytest.mark.parametrize("name", GRAMMAR_DOMAINS)
def test_undo_path_retraces_every_mutation(name):
    """The ablation's targets: one reverting edit per mutation, in reverse order, back to clean."""
    domain = get_domain(name)
    g = domain.grammar
    mutator = Mutator(g)
    rng = random.Random(7)
    longer = 0
    for _ in range(200):
        clean = mutator.sampler.sample_program(rng, domain.min_primitives, domain.max_primitives)
        steps = rng.randint(1, 5)
        noisy, undos = mutator.undo_path(rng, clean, steps)
        assert len(undos) == steps
        current = noisy
        for edit in undos:
            # Each edit is described in the program it applies to, and is a real change.
            assert edit.site in g.sites(current)
            changed = edit.apply(g, current)
            assert changed != current and g.parse(g.unparse(changed)) == changed
            current = changed
        assert current == clean
        longer += len(mutator.reverse_path(noisy, clean)) < steps
    assert longer > 0  # the reverse path skips overwritten mutations; undoing does not


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example,
                                                                     HealthCheck.data_too_large])
@given(name=st.sampled_from(DOMAINS), program_rng=st.randoms(use_true_random=False),
       noise_rng=st.randoms(use_true_random=False), size=st.integers(1, 8), sigma=st.integers(1, 3),
       steps=st.integers(1, 6))
def test_mutator_invariants_property(name, program_rng, noise_rng, size, sigma, steps):
    """Programs and mutations are drawn through hypothesis-controlled randomness, so a
    failure shrinks to a small program and a short chain of edits."""
    g = get_domain(name).grammar
    mutator = Mutator(g, NoiseConfig(sigma=sigma))
    counts = [k for k in g.counts(g.start) if k >= size] or g.counts(g.start)
    clean = mutator.sampler.sample(program_rng, counts[0])
    assert g.parse(g.unparse(clean)) == clean
    current = clean
    for _ in range(steps):
        after, edit = mutator.mutate(noise_rng, current)
        assert g.parse(g.unparse(after)) == after
        check_single_edit(g, current, after, edit, sigma)
        current = after
    path = mutator.reverse_path(current, clean)
    for edit in path:
        current = edit.apply(g, current)
    assert current == clean


@pytest.mark.parametrize("name", GRAMMAR_DOMAINS)
def test_100k_mutations_all_parse(name):
    domain = get_domain(name)
    g = domain.grammar
    mutator = Mutator(g)
    rng = random.Random(100)
    for i in range(100_000):
        if i % 25 == 0:
            current = mutator.sampler.sample_program(rng, domain.min_primitives, domain.max_primitives)
        current, edit = mutator.mutate(rng, current)
        text = g.unparse(current)
        assert g.parse(text) == current, text
        assert edit.site.prims <= mutator.config.sigma
