"""The noise process ("scheduler"): small valid subtree edits, and the reverse path back.

Kept apart from the networks, like a diffusers scheduler: `add_noise` makes a training
input from a clean program, `reverse_path` gives the edits that undo it. Both work on any
grammar, through `Grammar.sites` and `Sampler`.

An `Edit` replaces one site (a subtree or a variable token) with a new item of the same
kind, so applying any edit keeps the program syntactically valid.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .grammar import Grammar, Node, Site
from .sampler import Sampler


@dataclass(frozen=True)
class Edit:
    """Replace the item at `site` with `new` (a Node for subtree sites, a token id for token sites)."""

    site: Site
    new: object

    def apply(self, grammar: Grammar, root: Node) -> Node:
        return grammar.replace(root, self.site.path, self.new)

    def replacement_tokens(self, grammar: Grammar) -> list[int]:
        return [self.new] if type(self.new) is int else grammar.tokens(self.new)


@dataclass
class NoiseConfig:
    sigma: int = 2  # largest primitive count of a subtree a mutation may replace or insert
    max_steps: int = 5  # forward process applies 1..max_steps mutations
    random_mix: float = 0.2  # probability the noisy program is a fresh random program instead
    min_primitives: int = 2  # size range of fresh random programs
    max_primitives: int = 8


class Mutator:
    """Makes small random edits and computes reverse edit paths, for one grammar."""

    def __init__(self, grammar: Grammar, config: NoiseConfig | None = None, sampler: Sampler | None = None):
        self.grammar = grammar
        self.config = config or NoiseConfig()
        self.sampler = sampler or Sampler(grammar)
        self._variable = self._variable_nonterminals()

    # ------------------------------------------------------------- forward
    def mutate(self, rng: random.Random, root: Node) -> tuple[Node, Edit]:
        """One random edit: a site with <= sigma primitives, replaced by a different fresh item.

        As in the reference recipe, the primitive count of the site is drawn uniformly among
        the counts present, then the site uniformly among those with that count, so the many
        token sites do not crowd out subtree edits.
        """
        g, sigma = self.grammar, self.config.sigma
        by_count: dict[int, list[Site]] = {}
        for site in g.sites(root):
            if site.prims <= sigma and self._has_alternative(site):
                by_count.setdefault(site.prims, []).append(site)
        if not by_count:
            raise ValueError("program has no site that can be mutated")
        site = rng.choice(by_count[rng.choice(sorted(by_count))])
        old = g.get(root, site.path)
        while True:
            new = self._fresh(rng, site)
            if new != old:
                edit = Edit(site, new)
                return edit.apply(g, root), edit

    def _has_alternative(self, site: Site) -> bool:
        """Whether the site can be replaced by something different (else resampling never ends)."""
        if site.nt < 0:
            return True  # token sites are only listed when their terminal has >= 2 values
        return self._variable[site.nt]

    def _variable_nonterminals(self) -> list[bool]:
        """Per nonterminal: can it derive two different items with <= sigma primitives?

        A least fixed point: a nonterminal varies if two of its alternatives fit in sigma,
        or one that fits has a multi-valued terminal or a varying nonterminal in it.
        """
        g = self.grammar
        fits = (1 << (self.config.sigma + 1)) - 1
        usable = [[a for a in g.alts_of[nt] if g.alt_feasible[a] & fits] for nt in range(len(g.nonterminals))]
        variable = [False] * len(g.nonterminals)
        changed = True
        while changed:
            changed = False
            for nt, alts in enumerate(usable):
                if not variable[nt] and (len(alts) > 1 or any(
                        variable[i] if is_nt else len(g.terminals[i].values) > 1
                        for a in alts for is_nt, i in g.alternatives[a].symbols)):
                    variable[nt] = changed = True
        return variable

    def _fresh(self, rng: random.Random, site: Site):
        g = self.grammar
        if site.nt < 0:
            return rng.choice(g.terminal_token_ids[site.terminal])
        counts = [k for k in range(self.config.sigma + 1) if (g.feasible[site.nt] >> k) & 1]
        return self.sampler.sample(rng, rng.choice(counts), site.nt)

    def add_noise(self, rng: random.Random, clean: Node, steps: int | None = None) -> Node:
        """The forward process: 1..max_steps mutations, or (with prob. random_mix) a fresh program."""
        cfg = self.config
        if steps is None:
            if rng.random() < cfg.random_mix:
                return self.sampler.sample_program(rng, cfg.min_primitives, cfg.max_primitives)
            steps = rng.randint(1, cfg.max_steps)
        noisy = clean
        for _ in range(steps):
            noisy, _ = self.mutate(rng, noisy)
        return noisy

    def undo_path(self, rng: random.Random, clean: Node, steps: int) -> tuple[Node, list[Edit]]:
        """`steps` mutations of `clean`, and the edits that revert them, last mutation first.

        The "undo the last mutation" training targets, the ablation of `reverse_path`:
        applied in order the edits lead back to `clean`, but retrace every mutation, even
        ones a later mutation overwrote, where the reverse path goes straight to the
        differences that remain.
        """
        g = self.grammar
        current, undos = clean, []
        for _ in range(steps):
            mutated, edit = self.mutate(rng, current)
            # The reverting edit's site is the same place, described in the mutated program
            # (its span and primitive count are those of the new item).
            site = next(s for s in g.sites(mutated) if s.path == edit.site.path)
            undos.append(Edit(site, g.get(current, edit.site.path)))
            current = mutated
        return current, undos[::-1]

    # ------------------------------------------------------------- reverse
    def next_edit(self, current: Node, clean: Node) -> Edit | None:
        """The first edit on the reverse path from `current` to `clean` (None if equal).

        Walk both trees together, in pre-order, to the first place they differ (a small
        subtree that differs in several places counts as one place). If the clean item there
        has <= sigma primitives, put it in directly; otherwise insert a skeleton
        of it (its top production, with big children cut down to small stubs) that later
        steps refine. Every edit therefore has a small replacement, like the noise edits.
        """
        if current == clean:
            return None
        g = self.grammar
        site_at = {s.path: s for s in g.sites(current)}
        path: tuple[int, ...] = ()
        a, b = current, clean
        while True:
            if type(a) is int or a.alt != b.alt or len(a.children) != len(b.children):
                break
            differing = [i for i, (x, y) in enumerate(zip(a.children, b.children)) if x != y]
            if len(differing) > 1 and b.prims <= self.config.sigma:
                break  # several small differences: fix the whole small subtree in one edit
            first = differing[0]
            path = path + (first,)
            a, b = a.children[first], b.children[first]
        # Lift to the outermost node of a unit chain, which is the site that owns this span.
        while path not in site_at:
            path = path[:-1]
        site = site_at[path]
        target = g.get(clean, path)
        if type(target) is not int and target.prims > self.config.sigma:
            target = self.skeleton(target, self.config.sigma)
        return Edit(site, target)

    def next_edit_paths(self, current: Node, clean: Node) -> set[tuple[int, ...]]:
        """Paths of every site where a reverse-path edit could start (empty if equal).

        `next_edit` fixes the FIRST difference in pre-order, but fixing any other one first
        is just as right: the differences are in disjoint subtrees, so the same edits in
        another order reach the clean program in as many steps. Training the pointer on the
        whole set (see `data.collate`'s ``edit_site_ok``) stops it being punished for a
        correct site that merely is not the leftmost. The walk is `next_edit`'s, branching
        into every differing child instead of the first.
        """
        g = self.grammar
        site_paths = {s.path for s in g.sites(current)}
        found: set[tuple[int, ...]] = set()

        def walk(a, b, path):
            if a == b:
                return
            if not (type(a) is int or a.alt != b.alt or len(a.children) != len(b.children)):
                differing = [i for i, (x, y) in enumerate(zip(a.children, b.children)) if x != y]
                if not (len(differing) > 1 and b.prims <= self.config.sigma):
                    for i in differing:
                        walk(a.children[i], b.children[i], path + (i,))
                    return
            while path not in site_paths:
                path = path[:-1]
            found.add(path)

        walk(current, clean, ())
        return found

    def skeleton(self, node: Node, budget: int) -> Node:
        """`node` cut down to at most `budget` primitives, keeping its top-level structure.

        Children that do not fit are replaced by their own smallest-cost stub (the first
        minimal-cost primitive found inside them), so the result is as close to `node` as
        the budget allows.
        """
        g = self.grammar
        if node.prims <= budget:
            return node
        alt = g.alternatives[node.alt]
        own = 1 if alt.primitive else 0
        child_nodes = [i for i, c in enumerate(node.children) if type(c) is not int]
        # Each child needs at least its min cost; share the rest of the budget left to right.
        spare = budget - own - sum(g.min_cost[node.children[i].nt] for i in child_nodes)
        children = list(node.children)
        for i in child_nodes:
            child = node.children[i]
            floor = g.min_cost[child.nt]
            allowed = floor + max(spare, 0)
            if child.prims <= allowed:
                spare -= child.prims - floor
                continue
            # Recurse while the child's own production fits, so unit chains (s -> binop) keep
            # their top operator; otherwise fall back to a minimal stub.
            own_min = g.alt_feasible[child.alt] & -g.alt_feasible[child.alt]
            children[i] = self.skeleton(child, allowed) if own_min.bit_length() - 1 <= allowed \
                else self._stub(child, floor)
            spare -= (children[i].prims - floor)
        return Node(node.nt, node.alt, tuple(children), alt.primitive)

    def _stub(self, node: Node, cost: int) -> Node:
        """A derivation of node.nt with exactly `cost` primitives, reusing node's own material.

        The first subtree in pre-order with the same nonterminal and that many primitives
        (e.g. the first shape inside a big CSG expression); a fresh sample if there is none.
        """
        stack = [node]
        while stack:
            item = stack.pop()
            if item.nt == node.nt and item.prims == cost:
                return item
            stack.extend(c for c in reversed(item.children) if type(c) is not int)
        return self.sampler.sample(random.Random(node.prims), cost, node.nt)

    def reverse_path(self, noisy: Node, clean: Node, max_steps: int = 64) -> list[Edit]:
        """Edits that turn `noisy` into `clean`, in order."""
        path: list[Edit] = []
        current = noisy
        while len(path) < max_steps:
            edit = self.next_edit(current, clean)
            if edit is None:
                return path
            current = edit.apply(self.grammar, current)
            path.append(edit)
        raise RuntimeError("reverse path did not converge")
