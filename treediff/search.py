"""Search over programs with the policy (which edits to try) and value (which programs to keep).

Budget = number of distinct programs rendered and checked against the target ("nodes
expanded"): every initial program, every candidate an edit produces. Renders are cached
by program text, and visited programs are never counted twice.

* `beam_search`: keep the `beam` most promising programs seen so far; expand each with
  several sampled edits (the first greedy); rank by the value network's predicted edits to
  go (``rank="value"``) or by accumulated policy log-probability (``rank="logprob"``, the
  reference's ranking, kept as an ablation); stop when the goal check passes, if the
  domain's goal is exact (`Domain.stop_at_goal`), else spend the budget on the best score.
  After each round the best program so far has its numbers polished by coordinate search
  (`refine`); once `repair_after` programs have been tried, it is also offered to the
  domain's residual repairs (`Domain.repairs`: for CSG2D, the grid shapes that best cover
  the missing or extra ink, added or cut out). Repairs finish a search rather than start it:
  from the first round they raised the mean score but pulled the beam toward patched,
  ever larger programs and solved fewer problems (docs/models.md). The start is counted
  in programs tried, not as a share of the budget, so a search's course up to any node
  count does not depend on its budget (what `treediff bench` relies on).
  Before the first round, a domain with `Domain.fits` also gets a start built without the
  policy: a greedy chain of repairs from the shapes fitted to the target, polished
  (`Searcher.fit_chain`). Search ends there if it meets the goal; otherwise it joins the
  beam when the repairs start, for the same reason they start late.
* `rollout`: no search, follow the policy's greedy edit from one start program.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .data import ProgramState, image_to_chw
from .decoding import EOS, ConstrainedDecoder
from .domains import Domain
from .grammar import Node
from .model import NEG_INF, TreeDiffusionModel
from .noise import Edit
from .sampler import Sampler

MAX_REPLACEMENT_TOKENS = 32


@dataclass
class SearchConfig:
    budget: int = 2000
    beam: int = 16
    edits_per_node: int = 4
    max_depth: int = 200
    temperature: float = 1.0
    rank: str = "value"  # "value" or "logprob"
    score_weight: float = 4.0  # how much the goal score (image match) adds to the value ranking
    n_init: int = 4  # random start programs when no --init is given
    batch_size: int = 64
    refine: bool = True  # polish the best program's values by coordinate search on the goal score
    refine_budget: int = 80  # at most this many programs per polish
    simplify: bool = False  # the polish also tries dropping operands (Grammar.hoists); see docs/models.md
    # ... and, once single steps stop helping, two numbers of one shape at once (None: the
    # domain's `Domain.pair_polish`)
    pair_polish: bool | None = None
    repair: bool = True  # try the domain's residual repairs (Domain.repairs) of each new best program
    repair_after: int = 1500  # ... once this many programs have been tried; see `search`
    tidy: bool = True  # drop the answer's operands its picture does not need (`Searcher.tidy`)
    fit_start: bool = True  # also start from a greedy residual fit of the target (`Searcher.fit_chain`)
    fit_steps: int = 6  # ... at most this many repairs long
    fit_width: int = 1  # ... keeping this many programs at each step (a beam; 1 = greedy)
    fit_join_after: int | None = None  # programs tried before the fit joins the beam (None: when repairs start)
    refits: int = 1  # ... then read again this many times in the best fit's frame (`Domain.registered`)
    # With a domain that has `Domain.rerank` (sketches: a learned verifier), the answer is
    # its choice among this many best-scoring programs tried, not the best-scoring one; 0: off.
    rerank_top: int = 40


# `Searcher.ranked` looks for programs that draw drawable pictures among this many times
# `rerank_top` best-scoring ones.
DRAWABLE_CHECK = 5
TIDY_TOLERANCE = 0.01  # mean per-pixel change a tidied answer's picture may show


def repair_start(budget: int) -> int:
    """When a search with `budget` starts its repairs, for commands that take a budget:
    after SearchConfig.repair_after programs, or in the last quarter of a smaller budget."""
    return min(SearchConfig.repair_after, int(0.75 * budget))


@dataclass
class SearchResult:
    program: str
    node: Node
    solved: bool
    score: float
    nodes_expanded: int
    seconds: float
    trace: list = field(default_factory=list)  # (nodes_expanded, program, score) at each improvement
    visits: list = field(default_factory=list)  # (program, objective) of every program tried, in order


class Candidate:
    __slots__ = ("state", "image", "text", "score", "objective", "solved", "value", "logprob")

    def __init__(self, state: ProgramState, image: np.ndarray, text: str, score: float, solved: bool,
                 logprob: float, complexity_penalty: float = 0.0):
        self.state = state
        self.image = image
        self.text = text
        self.score = score  # the goal's score, as reported
        self.objective = score - complexity_penalty * state.node.prims  # what search maximises
        self.solved = solved
        self.value = math.inf
        self.logprob = logprob


class Searcher:
    """Runs searches for one domain and model; holds the caches that make search cheap."""

    def __init__(self, domain: Domain, model: TreeDiffusionModel, device: str = "cpu", check_size: int | None = None):
        self.domain = domain
        self.grammar = domain.grammar
        self.model = model.eval()
        self.device = device
        self.decoder = ConstrainedDecoder(self.grammar)
        self.sampler = Sampler(self.grammar)
        self.image_size = model.config.image_size
        self.check_size = check_size or self.image_size
        self._render_cache: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------ helpers
    def render(self, text: str, node: Node) -> np.ndarray:
        image = self._render_cache.get(text)
        if image is None:
            if len(self._render_cache) > 50_000:
                self._render_cache.clear()
            image = self.domain.render(node, self.image_size)
            self._render_cache[text] = image
        return image

    def render_text(self, text: str) -> np.ndarray:
        """`render` of a program given as text, parsed only when not cached."""
        image = self._render_cache.get(text)
        return image if image is not None else self.render(text, self.grammar.parse(text))

    def _visit(self, node: Node, target: np.ndarray, visited: dict, budget: int,
               logprob: float = 0.0) -> Candidate | None:
        """Render and count `node` unless it was seen or the budget is spent (then None):
        the one place every search step spends a node. `visited` maps each program tried,
        in order, to its objective."""
        text = self.grammar.unparse(node)
        if len(visited) >= budget or text in visited:
            return None
        c = self._candidate(node, target, logprob)
        visited[text] = c.objective
        return c

    def _candidate(self, node: Node, target: np.ndarray, logprob: float = 0.0) -> Candidate:
        text = self.grammar.unparse(node)
        image = self.render(text, node)
        solved, score = self.domain.goal(target, image)
        return Candidate(ProgramState(self.grammar, node), image, text, score, solved, logprob,
                         self.domain.complexity_penalty)

    def _inputs(self, target_t: torch.Tensor, cands: list[Candidate]) -> dict:
        B = len(cands)
        L = max(len(c.state.tokens) for c in cands)
        M = max(len(c.state.sites) for c in cands)
        tokens = np.zeros((B, L), dtype=np.int64)
        start = np.zeros((B, M), dtype=np.int64)
        end = np.ones((B, M), dtype=np.int64)
        kind = np.zeros((B, M), dtype=np.int64)
        valid = np.zeros((B, M), dtype=bool)
        for b, c in enumerate(cands):
            tokens[b, :len(c.state.tokens)] = c.state.tokens
            n = len(c.state.sites)
            start[b, :n] = [s.start for s in c.state.sites]
            end[b, :n] = [s.end for s in c.state.sites]
            kind[b, :n] = c.state.kinds
            valid[b, :n] = True
        current = torch.from_numpy(np.stack([image_to_chw(c.image) for c in cands])).to(self.device)
        as_t = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return dict(target=target_t.expand(B, -1, -1, -1), current=current, tokens=as_t(tokens),
                    site_start=as_t(start), site_end=as_t(end), site_kind=as_t(kind), site_valid=as_t(valid))

    def readable(self, c: Candidate) -> bool:
        """Whether the networks can read `c`: its tokens fit the model's position embedding.
        Repairs and the fit add a shape per step and can outgrow it; such a program can
        still be the answer, but it gets no value and no policy edits."""
        return len(c.state.tokens) <= self.model.config.max_tokens

    @torch.no_grad()
    def evaluate(self, target_t: torch.Tensor, cands: list[Candidate]) -> None:
        """Fill in the value network's estimate of edits to go for each candidate (left at
        infinity, last in the beam's order, for programs the networks cannot read)."""
        cands = [c for c in cands if self.readable(c)]
        for i in range(0, len(cands), 128):
            chunk = cands[i:i + 128]
            out = self.model.heads(**self._inputs(target_t, chunk))
            for c, v in zip(chunk, out["value"].tolist()):
                c.value = max(v, 0.0)

    @torch.no_grad()
    def propose(self, target_t: torch.Tensor, cands: list[Candidate], k: int, rng: torch.Generator,
                temperature: float, greedy_first: bool = True) -> list[list[tuple[Edit, float]]]:
        """Up to `k` distinct edits for each candidate with their log-probabilities."""
        out = self.model.heads(**self._inputs(target_t, cands))
        log_pointer = torch.log_softmax(out["pointer_logits"] / temperature, dim=-1)
        items = []  # (candidate index, site index, greedy)
        for b, c in enumerate(cands):
            n_sites = len(c.state.sites)
            picks = torch.multinomial(log_pointer[b, :n_sites].exp(), k, replacement=True, generator=rng).tolist()
            if greedy_first:
                picks[0] = int(log_pointer[b, :n_sites].argmax())
            items += [(b, s, greedy_first and j == 0) for j, s in enumerate(picks)]
        index = torch.tensor([b for b, _, _ in items], device=self.device)
        site_index = torch.tensor([s for _, s, _ in items], device=self.device)
        site_repr = out["sites"][index, site_index]
        replacements, logps = self._decode(out["memory"], out["memory_pad"], index, site_repr,
                                           [cands[b].state.sites[s] for b, s, _ in items],
                                           [g for _, _, g in items], rng, temperature)
        proposals: list[list[tuple[Edit, float]]] = [[] for _ in cands]
        seen: list[set] = [set() for _ in cands]
        for (b, s, _), new, lp in zip(items, replacements, logps):
            if new is None:
                continue
            site = cands[b].state.sites[s]
            key = (s, new if type(new) is int else tuple(self.grammar.tokens(new)))
            if key in seen[b]:
                continue
            seen[b].add(key)
            proposals[b].append((Edit(site, new), float(log_pointer[b, s]) + lp))
        return proposals

    def _decode(self, states, pad, rows, site_repr, sites, greedy, rng, temperature):
        """Constrained autoregressive decoding of one replacement per item, batched; item i
        reads row ``rows[i]`` of the decoder memory ``states``/``pad``."""
        g, dec = self.grammar, self.decoder
        n = len(sites)
        parse_states = [dec.initial(s.nt) if s.nt >= 0 else None for s in sites]
        written: list[list[int]] = [[] for _ in range(n)]
        logp = [0.0] * n
        done = [False] * n
        failed = [False] * n
        greedy_t = torch.tensor(greedy, device=self.device)
        cache, logits = self.model.start_decoding(states, pad, site_repr, rows)
        for step in range(MAX_REPLACEMENT_TOKENS):
            active = [i for i in range(n) if not done[i]]
            if not active:
                break
            mask = np.zeros(logits.shape, dtype=bool)
            mask[:, EOS] = True  # finished rows: anything valid, ignored below
            for i in active:
                if sites[i].nt < 0:
                    mask[i, :] = False
                    mask[i, g.terminal_token_ids[sites[i].terminal]] = True
                else:
                    mask[i] = dec.allowed(parse_states[i])
            masked = logits.masked_fill(~torch.from_numpy(mask).to(self.device), NEG_INF)
            log_probs = torch.log_softmax(masked / temperature, dim=-1)
            sampled = torch.multinomial(log_probs.exp(), 1, generator=rng).squeeze(-1)
            choice_t = torch.where(greedy_t, log_probs.argmax(-1), sampled)
            chosen_lp = log_probs.gather(1, choice_t.unsqueeze(1)).squeeze(1).tolist()
            choice = choice_t.tolist()
            for i in active:
                tok = choice[i]
                logp[i] += chosen_lp[i]
                if sites[i].nt < 0:
                    written[i].append(tok)
                    done[i] = True
                elif tok == EOS:
                    done[i] = True
                else:
                    written[i].append(tok)
                    parse_states[i] = dec.advance(parse_states[i], tok)
                    if len(written[i]) >= MAX_REPLACEMENT_TOKENS:
                        done[i] = failed[i] = True
            if all(done):
                break
            logits = self.model.continue_decoding(cache, choice_t)
        results = []
        for i in range(n):
            if failed[i] or not done[i]:
                results.append(None)
            elif sites[i].nt < 0:
                results.append(written[i][0])
            else:
                results.append(g.parse(g.detokenize(written[i]), sites[i].nt))
        return results, logp

    def _begin(self, target: np.ndarray, seed: int):
        """Clock, seeded generators, and the target as array and tensor, for one search."""
        target = target.astype(np.float32)
        target_t = torch.from_numpy(image_to_chw(target)).unsqueeze(0).to(self.device)
        return time.time(), random.Random(seed), torch.Generator(device=self.device).manual_seed(seed), target, target_t

    def _start(self, target, init, cfg, py_rng, visited) -> list[Candidate]:
        """The first programs: the user's (--init, or an autoregressive model's), else `n_init`
        random ones; each counts, in order, up to the first that meets an exact goal."""
        d = self.domain
        starts = list(init) if init else [self.sampler.sample_program(py_rng, d.min_primitives, d.max_primitives)
                                          for _ in range(cfg.n_init)]
        cands = []
        for node in starts[:cfg.budget]:
            c = self._visit(node, target, visited, cfg.budget)
            if c is None:
                continue
            cands.append(c)
            if c.solved and self.domain.stop_at_goal:
                return cands  # the answer is here: the remaining starts are never rendered or counted
        return cands

    def _fit_start(self, target, cfg, visited, progress=None) -> Candidate | None:
        """The greedy residual fit (`fit_chain`), its end polished (`refine`) and repaired
        again, or None when the domain has no fits or `cfg.fit_start` is off. Search
        returns it at once if it meets the goal and otherwise holds it back until the
        repairs start.

        Why: where the target is a few shapes that barely overlap (separate parts, a
        corner of a clipped circle), the fit reaches the right structure in tens of
        programs while the policy's edits wander among shapes of the wrong kind. Put in
        the beam from the start, the fit lost late about as many problems as it solved
        early: the beam followed the patched program (docs/models.md)."""
        d = self.domain
        if not (cfg.fit_start and d.fits and d.repairs) or len(visited) >= cfg.budget:
            return None
        before = len(visited)
        fitted = None
        for _ in range(1 + (cfg.refits if d.registered is not None else 0)):
            if fitted is not None and (len(visited) >= cfg.budget or (fitted.solved and d.stop_at_goal)):
                break
            # Later rounds read the target in the frame of the best fit so far (`Domain.registered`).
            read = target if fitted is None else d.registered(target, fitted.image)
            chain = self.fit_chain(target, cfg, visited, read=read)
            found = chain[-1] if chain else None
            if found is not None and cfg.refine and not (found.solved and d.stop_at_goal):
                # the polish moves edges, which leaves new residual regions: repair once more
                polished = self.refine(found, target, visited, cfg.budget, cfg.refine_budget, lambda c: None,
                                       cfg.simplify, self._pairs(cfg))
                found = max([polished] + self.fit_chain(target, cfg, visited, start=polished),
                            key=lambda c: c.objective)
            if found is not None and (fitted is None or found.objective > fitted.objective):
                fitted = found
            if fitted is None:
                break
        if progress:
            progress.update(len(visited) - before)
        return fitted

    def _pairs(self, cfg: SearchConfig) -> bool:
        return self.domain.pair_polish if cfg.pair_polish is None else cfg.pair_polish

    def fit_chain(self, target, cfg, visited, start: Candidate | None = None,
                  read: np.ndarray | None = None) -> list[Candidate]:
        """Programs built without the policy: the best of the domain's shapes fitted to the
        target (`Domain.fits`; read off `read` when given, the target in another frame), or
        `start`, then, up to `fit_steps` times, its best residual repair (`Domain.repairs`)
        while that improves the objective; with `fit_width` > 1 the best few at each step
        are repaired. Every program tried counts. Returns the chain, best last."""
        d, chain = self.domain, []

        def tried(nodes) -> list[Candidate]:
            return [c for c in (self._visit(node, target, visited, cfg.budget) for node in nodes) if c is not None]

        firsts = [start] if start is not None else tried(d.fits(self.grammar, target if read is None else read))
        level = sorted(firsts, key=lambda c: -c.objective)[:cfg.fit_width]
        if not level:
            return chain
        chain.append(level[0])
        for _ in range(cfg.fit_steps):
            if chain[-1].solved and d.stop_at_goal:
                break
            children = [c for parent in level for c in tried(d.repairs(self.grammar, parent.text, target, parent.image))]
            level = sorted(children, key=lambda c: -c.objective)[:cfg.fit_width]
            if not level or level[0].objective <= chain[-1].objective:
                break
            chain.append(level[0])
        return chain

    def refine(self, cand: Candidate, target: np.ndarray, visited: dict, budget: int, cap: int,
               on_new, simplify: bool = False, pairs: bool = False) -> Candidate:
        """Local search on the goal score: simplification, then coordinate search.

        Simplification (`Grammar.hoists`) tries the program without each operand, keeping a smaller
        program when it scores at least as well: start programs and policy edits leave shapes
        the target does not need, and a smaller program is both the better answer and closer
        to what the policy was trained on (2-8 primitives).

        Coordinate search goes over the program's variable tokens (numbers, angles, colours).
        The policy gets structure and rough values right long before exact values; the
        goal score is smooth in most values (moving a shape a little changes the overlap a
        little), so trying neighbouring values and keeping improvements closes the gap, as
        CSGNet's refinement of numbers does. Ordered terminals (values sort as digits or
        letters) try +-1 steps and keep going while the score improves; small unordered
        ones try every value. Every program tried counts against the budget.
        """
        g = self.grammar
        best, spent = cand, 0

        def attempt(node: Node):
            """The candidate for `node`, or None once the budget is spent or it was seen."""
            nonlocal spent
            if spent >= cap:
                return None
            c = self._visit(node, target, visited, budget, best.logprob)
            if c is not None:
                spent += 1
                on_new(c)
            return c

        def stopping_result(c) -> Candidate:
            """What refine returns when it stops right after trying `c` (None: nothing tried)."""
            return c if c is not None and (c.solved or c.objective > best.objective) else best

        def done(c) -> bool:
            return spent >= cap or len(visited) >= budget or (c is not None and c.solved and self.domain.stop_at_goal)

        improved = True
        while improved:
            improved = False
            if simplify:
                for path, sub_path in g.hoists(best.state.node):
                    c = attempt(g.replace(best.state.node, path, g.get(best.state.node, sub_path)))
                    if done(c):
                        return stopping_result(c)
                    if c is not None and (c.objective > best.objective or
                                          (c.score >= best.score and c.state.node.prims < best.state.node.prims)):
                        best, improved = c, True
                        break  # the sites changed: start over on the smaller program
                if improved:
                    continue
            for site in [s for s in best.state.sites if s.nt < 0]:  # one-token edits keep every path valid
                ids = g.terminal_token_ids[site.terminal]
                pos = ids.index(g.get(best.state.node, site.path))
                if len(ids) <= 9:
                    directions = [[i] for i in ids if i != ids[pos]]
                else:
                    directions = [ids[pos + 1:], ids[:pos][::-1]]
                for direction in directions:
                    for tok in direction:
                        c = attempt(g.replace(best.state.node, site.path, tok))
                        if done(c):
                            return stopping_result(c)
                        if c is None or c.objective <= best.objective:
                            break  # seen before, or this direction stopped helping
                        best, improved = c, True
            if not improved and pairs:
                for node in self._pair_moves(best.state):
                    c = attempt(node)
                    if done(c):
                        return stopping_result(c)
                    if c is not None and c.objective > best.objective:
                        best, improved = c, True
                        break  # back to one number at a time from here
        return best

    def _pair_moves(self, state: ProgramState) -> list[Node]:
        """The program with two ordered numbers of one shape each moved a step (all four
        sign pairs), for every pair: the moves `refine` tries once one number at a time
        no longer helps.

        Why: against a drawing, a shape's numbers are coupled. A shallow arc fits a larger
        circle whose centre lies further out about as well, so a circle one digit too big
        improves only if its centre also moves back a digit; either step alone scores worse,
        and coordinate search stops one digit short on each."""
        g, node = self.grammar, state.node
        by_shape: dict[tuple, list] = {}
        for site in state.sites:
            if site.nt < 0 and len(g.terminal_token_ids[site.terminal]) > 9:
                by_shape.setdefault(site.path[:-1], []).append(site)
        moves = []
        for sites in by_shape.values():
            signs = itertools.product((1, -1), repeat=2)
            for pair, steps in itertools.product(itertools.combinations(sites, 2), list(signs)):
                moved = node
                for site, step in zip(pair, steps):
                    ids = g.terminal_token_ids[site.terminal]
                    pos = ids.index(g.get(node, site.path)) + step
                    if not 0 <= pos < len(ids):
                        break
                    moved = g.replace(moved, site.path, ids[pos])
                else:
                    moves.append(moved)
        return moves

    # ------------------------------------------------------------ searches
    def search(self, target: np.ndarray, cfg: SearchConfig, seed: int = 0, init: list[Node] | None = None,
               progress=None, detail: np.ndarray | None = None) -> SearchResult:
        """Value-guided beam search; see the module docstring. `detail`, a sharper reading of
        the target (`Domain.detail_score`), only changes how the answer is chosen."""
        t0, py_rng, rng, target, target_t = self._begin(target, seed)
        visited: dict[str, float] = {}
        trace: list = []
        pool = self._start(target, init, cfg, py_rng, visited)
        best = max(pool, key=lambda c: c.objective)
        trace.append((len(visited), best.text, best.score))
        if progress:
            progress.update(len(visited))
        stop = self.domain.stop_at_goal
        if best.solved and stop:
            return self._finish(cfg, target, best, visited, t0, trace, detail)
        fitted = self._fit_start(target, cfg, visited, progress)
        if fitted is not None and fitted.solved and stop:
            trace.append((len(visited), fitted.text, fitted.score))
            return self._finish(cfg, target, fitted, visited, t0, trace, detail)
        self.evaluate(target_t, pool)
        expansions: dict[str, int] = {}
        refined: set[str] = set()
        repaired: set[str] = set()
        fit_joined = False

        def rank_key(c: Candidate) -> float:
            if cfg.rank == "logprob":
                return -c.logprob
            return c.value - cfg.score_weight * c.objective

        for _ in range(cfg.max_depth):
            if len(visited) >= cfg.budget:
                break
            # Programs expanded many times get pushed back so the beam keeps moving.
            pool.sort(key=lambda c: rank_key(c) + 0.5 * expansions.get(c.text, 0))
            frontier = [c for c in pool if self.readable(c)][:cfg.beam]
            proposals = []
            for i in range(0, len(frontier), cfg.batch_size):
                chunk = frontier[i:i + cfg.batch_size]
                proposals += self.propose(target_t, chunk, cfg.edits_per_node, rng, cfg.temperature)
            new: list[Candidate] = []

            def consider(node: Node, logprob: float) -> Candidate | None:
                """Render and count `node` unless seen; None when seen or the budget is spent."""
                nonlocal best
                c = self._visit(node, target, visited, cfg.budget, logprob)
                if c is None:
                    return None
                new.append(c)
                if progress:
                    progress.update(1)
                if c.objective > best.objective:
                    best = c
                    trace.append((len(visited), c.text, c.score))
                return c

            for parent, edits in zip(frontier, proposals):
                expansions[parent.text] = expansions.get(parent.text, 0) + 1
                for edit, lp in edits:
                    c = consider(edit.apply(self.grammar, parent.state.node), parent.logprob + lp)
                    if c is not None and c.solved and stop:
                        return self._finish(cfg, target, c, visited, t0, trace, detail)
            join_after = cfg.repair_after if cfg.fit_join_after is None else cfg.fit_join_after
            if fitted is not None and not fit_joined and len(visited) >= join_after:
                # The fit joins the beam where the repairs start, but the repairs and the
                # polish keep working on the policy's best: a fit that stalls just short of
                # the goal would otherwise take them over (the README example). It is the
                # answer only if nothing better turns up. Joining earlier (fit_join_after),
                # it becomes the best when it scores better, and the polish works on it.
                fit_joined = True
                new.append(fitted)
                if cfg.fit_join_after is not None and fitted.objective > best.objective:
                    best = fitted
                    trace.append((len(visited), best.text, best.score))
            if (cfg.repair and self.domain.repairs and best.text not in repaired
                    and len(visited) >= cfg.repair_after):
                repaired.add(best.text)
                parent = best
                for node in self.domain.repairs(self.grammar, parent.text, target, parent.image):
                    c = consider(node, parent.logprob)
                    if c is not None and c.solved and stop:
                        return self._finish(cfg, target, c, visited, t0, trace, detail)
            if cfg.refine and best.text not in refined and len(visited) < cfg.budget:
                refined.add(best.text)
                polished: list[Candidate] = []

                def on_new(c: Candidate) -> None:
                    polished.append(c)
                    if progress:
                        progress.update(1)

                result = self.refine(best, target, visited, cfg.budget, cfg.refine_budget, on_new, cfg.simplify,
                                     self._pairs(cfg))
                if result.objective > best.objective:
                    best = result
                    refined.add(best.text)
                    trace.append((len(visited), best.text, best.score))
                if best.solved and stop:
                    return self._finish(cfg, target, best, visited, t0, trace, detail)
                new += polished[-4:]  # the polished program and its last steps join the pool
            if new:
                self.evaluate(target_t, new)
                pool = sorted(pool + new, key=rank_key)[: 4 * cfg.beam]
        if fitted is not None and fitted.objective > best.objective:
            best = fitted
            trace.append((len(visited), best.text, best.score))
        return self._finish(cfg, target, best, visited, t0, trace, detail)

    def rollout(self, target: np.ndarray, budget: int, seed: int = 0, init: list[Node] | None = None,
                progress=None) -> SearchResult:
        """No search: repeatedly apply the policy's most likely new edit to one program."""
        t0, py_rng, rng, target, target_t = self._begin(target, seed)
        visited: dict[str, float] = {}
        trace: list = []
        cfg = SearchConfig(budget=budget, n_init=1, fit_start=False)
        current = self._start(target, init[:1] if init else None, cfg, py_rng, visited)[0]
        best = current
        trace.append((1, best.text, best.score))
        while not (best.solved and self.domain.stop_at_goal) and len(visited) < budget:
            edits = self.propose(target_t, [current], 4, rng, 1.0)[0] if self.readable(current) else []
            moved = False
            for edit, _ in edits:  # the greedy edit first; sampled ones if it was seen before
                c = self._visit(edit.apply(self.grammar, current.state.node), target, visited, budget)
                if c is None:
                    continue
                current = c
                moved = True
                if progress:
                    progress.update(1)
                if current.objective > best.objective:
                    best = current
                    trace.append((len(visited), current.text, current.score))
                break
            if not moved:  # stuck: restart from a fresh random program
                d = self.domain
                node = self.sampler.sample_program(py_rng, d.min_primitives, d.max_primitives)
                current = self._candidate(node, target)
                visited[current.text] = current.objective
        return self._result(best, visited, t0, trace)

    def tidy(self, best: Candidate, target: np.ndarray) -> Candidate:
        """The answer without the parts its picture does not need.

        Search keeps whatever a program carries as long as the picture is as good, so an
        answer can hold shapes cut from empty space or hidden under others, which a person
        reading or editing it would have to find and delete. Each operand whose removal
        leaves the search objective at least as good, and the picture all but the same
        (TIDY_TOLERANCE), is dropped (in `Grammar.hoists` order, outermost first) until none
        is. The picture check matters where the goal accepts more than one picture: CSG2D's
        accepts the negative, and a program drawing everything but a circle would otherwise
        be tidied to the circle. This runs after the search, on its answer, and is not
        counted in its nodes; it never lowers the objective nor loses the goal.
        """
        g = self.grammar
        changed = True
        while changed:
            changed = False
            for path, sub_path in g.hoists(best.state.node):
                c = self._candidate(g.replace(best.state.node, path, g.get(best.state.node, sub_path)), target,
                                    best.logprob)
                if (c.objective >= best.objective and c.solved >= best.solved
                        and float(np.abs(c.image - best.image).mean()) <= TIDY_TOLERANCE):
                    best, changed = c, True
                    break
        return best

    def _finish(self, cfg: SearchConfig, target: np.ndarray, best: Candidate, visited: dict, t0: float,
                trace: list, detail: np.ndarray | None = None) -> SearchResult:
        chosen = best
        if cfg.rerank_top > 1 and self.domain.rerank is not None:
            chosen = self.choose(target, list(visited.items()), cfg.rerank_top, best, detail)
        tidied = self.tidy(chosen, target) if cfg.tidy else chosen
        if tidied is not best:
            trace.append((len(visited), tidied.text, tidied.score))
        return self._result(tidied, visited, t0, trace)

    def choose(self, target: np.ndarray, visits: list, top: int, best: Candidate | None = None,
               detail: np.ndarray | None = None) -> Candidate:
        """The domain's `rerank` choice among the `top` best-scoring of `visits` ((program,
        objective) pairs; ties keep the order tried). For a sketch the best score is often
        a near neighbour of what was meant (a number one digit off that the drawing's
        wobble fits a little better); a learned verifier tells them apart more often."""
        text, node = self.ranked(target, visits, top, best, detail)[0]
        if best is not None and text == best.text:
            return best
        return self._candidate(node, target, best.logprob if best is not None else 0.0)

    def ranked(self, target: np.ndarray, visits: list, top: int, best: Candidate | None = None,
               detail: np.ndarray | None = None) -> list[tuple[str, Node]]:
        """The `top` best-scoring of `visits` ((program, objective) pairs) as (program, node),
        in the order the answer is chosen: the domain's `rerank` scores when it has one,
        else the objective (ties keep the order tried). `best`, when given, is always
        among them. With `detail` and a domain `detail_score`, the objectives the choice
        sees are that score minus the complexity penalty: the search still ranks by its own
        score which programs are in the running. Programs the domain calls wobble traces
        (`Domain.wobble_trace`), then those drawing undrawable pictures, come last."""
        order = sorted(range(len(visits)), key=lambda i: -visits[i][1])
        if self.domain.undrawable is not None:
            order = self._drawable_first(order, visits, top)
        shortlist = [visits[i] for i in order[:top]]
        if best is not None and best.text not in {t for t, _ in shortlist}:
            shortlist[-1:] = [(best.text, best.objective)]
        texts = [t for t, _ in shortlist]
        nodes = [best.state.node if best is not None and t == best.text else self.grammar.parse(t) for t in texts]
        objectives = [o for _, o in shortlist]
        scores = None  # None: the objective's order as it stands
        if detail is not None and self.domain.detail_score is not None:
            side = detail.shape[-1]
            scores = objectives = [self.domain.detail_score(detail, self.domain.render(n, side))
                                   - self.domain.complexity_penalty * n.prims for n in nodes]
        if self.domain.rerank is not None and len(texts) >= 2:
            images = [self.render(t, n) for t, n in zip(texts, nodes)]
            scores = self.domain.rerank(target.astype(np.float32), images, objectives)
        last = self._undrawable_flags(texts)
        traced = self._wobble_flags(nodes)
        # stable: ties keep the objective's order; programs drawing undrawable pictures go
        # last, before them those tracing the target's wobble
        picks = sorted(range(len(texts)),
                       key=lambda i: (last[i], traced[i], 0.0 if scores is None else -float(scores[i])))
        return [(texts[i], nodes[i]) for i in picks]

    def _undrawable_flags(self, texts: list[str]) -> list[bool]:
        """Per program, whether the domain calls its picture undrawable (`Domain.undrawable`)."""
        test = self.domain.undrawable
        return [False] * len(texts) if test is None else [bool(test(self.render_text(t))) for t in texts]

    def _wobble_flags(self, nodes: list[Node]) -> list[bool]:
        """Per program, whether the domain calls it a trace of the target's wobble (`Domain.wobble_trace`)."""
        test = self.domain.wobble_trace
        if test is None:
            return [False] * len(nodes)
        return [bool(test(self.grammar, n, lambda sub: self.domain.render(sub, self.image_size))) for n in nodes]

    def _drawable_first(self, order: list[int], visits: list, top: int) -> list[int]:
        """`order` (indices into `visits`, best first) with the programs whose pictures the
        domain calls undrawable moved behind the others, among the first DRAWABLE_CHECK x
        `top` (each costs a render).

        Why: a sketch search reads the drawing literally, and where the hand's turn, scale
        and shift moved a shape towards the edge, its best programs can all draw it into
        the margin no drawing reaches, so a choice among them has nothing right to pick."""
        head = order[:DRAWABLE_CHECK * top]
        flags = self._undrawable_flags([visits[i][0] for i in head])
        return ([i for i, bad in zip(head, flags) if not bad] + [i for i, bad in zip(head, flags) if bad]
                + order[len(head):])

    def alternatives(self, target: np.ndarray, result: SearchResult, k: int, top: int,
                     detail: np.ndarray | None = None) -> list[SearchResult]:
        """Up to `k` runner-up answers that draw other pictures than the answer and each
        other, best first, ranked as the answer was chosen (`ranked` among the `top`
        best-scoring programs tried), each tidied like the answer.

        Why: some pictures do not decide between programs. A hand drawing of a box ten
        digits wide drawn large and one eleven wide drawn small have the same outline, and
        no score separates them reliably (docs/sketches.md); the person who drew it can."""
        if k <= 0:
            return []
        shown = [self.render(result.program, result.node) > 0.5]
        out = []
        for text, node in self.ranked(target, result.visits, max(top, k + 1), detail=detail):
            c = self.tidy(self._candidate(node, target), target)
            mask = c.image > 0.5
            if c.text == result.program or any(np.array_equal(mask, m) for m in shown):
                continue
            shown.append(mask)
            out.append(SearchResult(c.text, c.state.node, bool(c.solved), float(c.score), result.nodes_expanded, 0.0))
            if len(out) == k:
                break
        return out

    @staticmethod
    def _result(best: Candidate, visited: dict, t0: float, trace: list) -> SearchResult:
        return SearchResult(best.text, best.state.node, bool(best.solved), float(best.score), len(visited),
                            time.time() - t0, trace, list(visited.items()))
