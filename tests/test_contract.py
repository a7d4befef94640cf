"""The contract every registered domain must meet, built-in or third-party.

Parametrised over `available_domains()` at collection time, so a newly registered domain
(tests/conftest.py adds "dots") is checked with no new test code.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from treediff.domains import available_domains, get_domain
from treediff.grammar import Grammar, Node
from treediff.noise import Mutator, NoiseConfig
from treediff.sampler import Sampler

DOMAINS = available_domains()
SIGMA = 2


def test_third_domain_is_registered():
    assert {"csg2d", "tinysvg", "dots"} <= set(DOMAINS)


def _programs(domain, n: int, seed: int) -> list[Node]:
    rng = random.Random(seed)
    sampler = Sampler(domain.grammar)
    return [sampler.sample_program(rng, domain.min_primitives, domain.max_primitives) for _ in range(n)]


@pytest.mark.parametrize("name", DOMAINS)
def test_samples_parse_with_exact_primitive_count(name):
    domain = get_domain(name)
    g = domain.grammar
    sampler = Sampler(g)
    rng = random.Random(0)
    for k in range(domain.min_primitives, domain.max_primitives + 1):
        for _ in range(10):
            tree = sampler.sample(rng, k)
            assert tree.prims == k
            parsed = g.parse(g.unparse(tree))
            assert parsed == tree
            assert parsed.prims == k


@pytest.mark.parametrize("name", DOMAINS)
def test_parse_unparse_round_trip(name):
    g = get_domain(name).grammar
    for tree in _programs(get_domain(name), 100, seed=1):
        text = g.unparse(tree)
        again = g.parse(text)
        assert g.unparse(again) == text
        assert g.tokens(again) == g.tokens(tree)
        # Whitespace is insignificant: newlines and extra spaces give the same tree.
        assert g.parse("  " + text.replace(" ", " \n  ") + "\n") == tree


def check_single_edit(g: Grammar, before: Node, after: Node, edit, sigma: int) -> None:
    site = edit.site
    assert site.prims <= sigma, "the replaced subtree is too big"
    new_prims = 0 if type(edit.new) is int else edit.new.prims
    assert new_prims <= sigma, "the inserted subtree is too big"
    assert g.get(before, site.path) != edit.new, "a mutation must change the program"
    assert g.get(after, site.path) == edit.new
    # Outside the site nothing changes: the same tokens before and after its span ...
    old_tokens, new_tokens = g.tokens(before), g.tokens(after)
    replacement = edit.replacement_tokens(g)
    assert new_tokens[:site.start] == old_tokens[:site.start]
    assert new_tokens[site.start:site.start + len(replacement)] == replacement
    assert new_tokens[site.start + len(replacement):] == old_tokens[site.end:]
    # ... and the same productions on the way down, with untouched siblings shared.
    a, b = before, after
    for depth, index in enumerate(site.path):
        assert a.alt == b.alt
        for i, (x, y) in enumerate(zip(a.children, b.children)):
            if i != index:
                assert x is y or x == y
        a, b = a.children[index], b.children[index]


@pytest.mark.parametrize("name", DOMAINS)
def test_2000_mutations_parse_and_change_one_small_subtree(name):
    domain = get_domain(name)
    g = domain.grammar
    mutator = Mutator(g, NoiseConfig(sigma=SIGMA))
    rng = random.Random(2)
    starts = _programs(domain, 100, seed=3)
    kinds = set()
    for i in range(2000):
        if i % 20 == 0:  # restart now and then so programs stay target-sized
            current = starts[i // 20]
        after, edit = mutator.mutate(rng, current)
        text = g.unparse(after)
        assert g.parse(text) == after, text
        check_single_edit(g, current, after, edit, SIGMA)
        kinds.add(edit.site.nt >= 0)
        current = after
    assert kinds == {True, False}, "both subtree and token edits should occur"


def _min_alt_cost(g: Grammar, node: Node) -> int:
    feasible = g.alt_feasible[node.alt]
    return (feasible & -feasible).bit_length() - 1


@pytest.mark.parametrize("name", DOMAINS)
@pytest.mark.parametrize("sigma", [1, 2, 3])
def test_reverse_path_ends_at_clean_program(name, sigma):
    domain = get_domain(name)
    g = domain.grammar
    mutator = Mutator(g, NoiseConfig(sigma=sigma))
    rng = random.Random(4 + sigma)
    longest = 0
    for clean in _programs(domain, 60, seed=5):
        noisy = mutator.add_noise(rng, clean)
        path = mutator.reverse_path(noisy, clean)
        current = noisy
        for edit in path:
            if type(edit.new) is not int:
                # Small replacements only; below an alternative's own minimum cost (a binop
                # needs two shapes) the skeleton is that minimum.
                assert edit.new.prims <= max(sigma, _min_alt_cost(g, edit.new))
            current = edit.apply(g, current)
            assert g.parse(g.unparse(current)) == current
        assert current == clean
        assert g.unparse(current) == g.unparse(clean)
        assert (len(path) == 0) == (noisy == clean)
        longest = max(longest, len(path))
    assert longest >= 2


@pytest.mark.parametrize("name", DOMAINS)
def test_renders_are_deterministic_with_declared_shape(name):
    domain = get_domain(name)
    assert domain.channels in (1, 3)
    programs = _programs(domain, 6, seed=6)
    for size in (32, 64):
        shape = (size, size) if domain.channels == 1 else (size, size, 3)
        images = []
        for tree in programs:
            image = domain.render(tree, size)
            assert image.shape == shape
            assert image.dtype == np.float32
            assert np.isfinite(image).all()
            assert image.min() >= 0.0 and image.max() <= 1.0
            assert np.array_equal(image, domain.render(tree, size))
            solved, score = domain.goal(image, image)
            assert solved, f"{name}: a render must solve itself (score {score})"
            images.append(image)
        # The picture depends on the program (random TinySVG programs are often blank, so
        # only ask for two different pictures).
        assert len({im.tobytes() for im in images}) >= 2
    assert domain.render(programs[0]).shape[0] == domain.model_size


@pytest.mark.parametrize("name", DOMAINS)
def test_svg_export_is_a_document(name):
    domain = get_domain(name)
    for tree in _programs(domain, 3, seed=7):
        svg = domain.svg(tree)
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")


@pytest.mark.parametrize("name", DOMAINS)
def test_goal_rejects_a_different_picture(name):
    domain = get_domain(name)
    programs = _programs(domain, 20, seed=8)
    images = [domain.render(t, 64) for t in programs]
    target = images[0]
    unsolved = [not domain.goal(target, im)[0] for im in images[1:]]
    assert sum(unsolved) >= len(unsolved) - 2


def test_adding_a_grammar_doc_shows_the_test_domain_code():
    """docs/adding-a-grammar.md must show the very code of tests/domains and tests/conftest.py."""
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "adding-a-grammar.md").read_text()
    sources = {
        "lark": (root / "tests" / "domains" / "dots.lark").read_text(),
        "python": (root / "tests" / "domains" / "dots.py").read_text() + (root / "tests" / "conftest.py").read_text(),
    }
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", doc, flags=re.MULTILINE | re.DOTALL)
    checked = 0
    for lang, body in blocks:
        if lang == "lark":
            assert body == sources["lark"]
            checked += 1
        elif lang == "python":
            assert body in sources["python"], body[:200]
            checked += 1
    assert checked >= 5
    assert f"hash {get_domain('dots').grammar.hash}" in doc


@pytest.mark.parametrize("name", DOMAINS)
def test_hoists_give_smaller_valid_programs(name):
    """Search's simplification moves (replace a part by a same-kind part inside it) must
    keep every program valid in any grammar, and each must drop something."""
    domain = get_domain(name)
    g = domain.grammar
    seen = 0
    for node in _programs(domain, 50, seed=4):
        for path, sub_path in g.hoists(node):
            after = g.replace(node, path, g.get(node, sub_path))
            assert g.parse(g.unparse(after)) == after
            assert after.ntokens < node.ntokens and after.prims <= node.prims
            seen += 1
    assert seen > 0, "sampled programs should have parts to drop"


@pytest.mark.parametrize("name", [n for n in DOMAINS if get_domain(n).fits or get_domain(n).repairs])
def test_fits_and_repairs_give_programs_of_the_grammar(name):
    """A domain's hand-written proposals (`Domain.fits`, `Domain.repairs`), where it names
    them, are programs its own grammar unparses and parses back."""
    domain = get_domain(name)
    g = domain.grammar
    programs = _programs(domain, 6, seed=9)
    for target_node, current_node in zip(programs, programs[1:]):
        target = domain.render(target_node, 64)
        proposed = list(domain.fits(g, target)) if domain.fits else []
        if domain.repairs:
            proposed += domain.repairs(g, g.unparse(current_node), target, domain.render(current_node, 64))
        for node in proposed:
            assert g.unparse(g.parse(g.unparse(node))) == g.unparse(node)
