"""The domain registry: a domain = grammar file + renderer + canvas + goal check + sampler hints.

Built-in domains register below; other packages register theirs through the entry-point
group ``treediff.domains`` (each entry point names a `Domain` or a function returning one),
and scripts or tests can call `register_domain` directly. Nothing outside this module and
the renderers knows any particular DSL.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import TreediffError
from .grammar import Grammar, Node

ENTRY_POINT_GROUP = "treediff.domains"

Goal = Callable[[np.ndarray, np.ndarray], "tuple[bool, float]"]


@dataclass(eq=False)
class Domain:
    """Everything treediff needs to know about one DSL.

    `renderer` is a class constructed with the domain's Grammar; it provides
    ``render(node, size) -> float32 array in [0, 1]`` of shape (size, size) for one channel
    or (size, size, 3) for RGB, ``svg(node) -> str`` and a ``channels`` attribute.
    `goal(target, image) -> (solved, score)` compares two renders of the same size; a
    higher score is better.
    """

    name: str
    grammar_file: str | Path
    renderer: type
    goal: Goal
    canvas: int = 128  # size of the pictures treediff writes for people
    model_size: int = 64  # size of the images networks see
    min_primitives: int = 2  # sampler hints: size range of training and test programs
    max_primitives: int = 8
    description: str = ""
    # Training targets whose render (at model_size) compresses better than this are redrawn:
    # random programs are often one shape covering the canvas or nothing visible, pictures
    # from which no program can be read back (see testsets.image_complexity).
    min_complexity: float = 0.0
    # Whether meeting the goal means the program is the answer, so search stops there. An
    # exact render match (CSG2D, TinySVG) is; a match with an approximate target (a
    # hand-drawn sketch) is not: many programs meet it and the better-scoring ones draw
    # what was meant more often, so search spends its budget and keeps the best score.
    stop_at_goal: bool = True
    # Score units a search subtracts per primitive when it compares programs (never in the
    # reported score). 0 for exact goals; an approximate target (a sketch) can be fitted
    # ever better by extra shapes that trace its wobble, and the simpler program is what was meant.
    complexity_penalty: float = 0.0
    # What `goal`'s score is, named in every report ("iou": CSG2D's mask IoU; "1-rmse").
    score_measure: str = "iou"
    # Optional hand-written proposals next to the policy's: ``repairs(grammar, program_text,
    # target, image) -> [Node]``, programs that fix what the render visibly gets wrong (see
    # renderers/csg2d_repair.py). Search renders and counts each one like any candidate.
    repairs: Callable | None = None
    # Optional programs read off the target directly: ``fits(grammar, target) -> [Node]``.
    # With `repairs`, search starts one greedy chain from the best of them: repair, keep
    # the best repair while it improves (`Searcher.fit_chain`).
    fits: Callable | None = None
    # Optional chooser of the answer: ``rerank(target, images, objectives) -> scores``, one per
    # candidate (its render and the objective search gave it); search returns the highest-scored
    # of its `SearchConfig.rerank_top` best programs (verifier.py: a learned verifier for
    # sketches, where the goal's score is only a proxy for what was meant).
    rerank: Callable | None = None
    # Optional ``undrawable(image) -> bool``: a picture no target of the domain shows
    # (sketches: one reaching the canvas margin, which no drawing does). The answer is
    # chosen among programs that draw others while any is in the running (`Searcher.ranked`).
    undrawable: Callable | None = None
    # Optional ``wobble_trace(grammar, node, render) -> bool`` (`render(node) -> image`): a
    # program that fits the target's noise rather than a meaning (sketches: one shape drawn
    # twice, a digit apart, tracing the hand's wobble along its edge). Like an undrawable
    # picture, it is chosen only when nothing else is in the running (`Searcher.ranked`).
    wobble_trace: Callable | None = None
    # Optional finer score for that choice: ``detail_score(detail, image) -> score``, where
    # `detail` is a sharper reading of the target than the model's input, given by the caller
    # (sketches: the pen's centre line at 4x, `preprocess.read_sketch`), and `image` a render
    # at its size. When a search is given `detail`, the answer is chosen with it in place
    # of the goal's score (`Searcher.ranked`); its `measure` attribute, if any, names it in
    # `treediff solve`'s report.
    detail_score: Callable | None = None
    # Optional ``registered(target, image) -> target``: the target brought into the frame of
    # a candidate's render (sketches: the whole drawing's turn, scale and shift undone, as
    # the goal registers them). Search reads its fits again there (`SearchConfig.refits`).
    registered: Callable | None = None
    # Whether search's polish also steps two numbers of one shape at once when single steps
    # stop helping (`Searcher.refine`): against a drawing a shape's numbers are coupled (a
    # shallow arc fits a larger circle further out), while an exact goal rarely needs it.
    pair_polish: bool = False
    grammar_kwargs: dict = field(default_factory=dict)

    @cached_property
    def grammar(self) -> Grammar:
        return Grammar.from_file(self.grammar_file, **self.grammar_kwargs)

    @cached_property
    def render_engine(self):
        return self.renderer(self.grammar)

    @property
    def channels(self) -> int:
        return self.render_engine.channels

    def render(self, node: Node, size: int | None = None) -> np.ndarray:
        return self.render_engine.render(node, size or self.model_size)

    def render_text(self, program: str, size: int | None = None) -> np.ndarray:
        return self.render(self.grammar.parse(program), size)

    def svg(self, node: Node) -> str:
        return self.render_engine.svg(node)

    def describe(self) -> dict:
        g = self.grammar
        return {
            "name": self.name,
            "description": self.description,
            "grammar_file": str(self.grammar_file),
            "canvas": self.canvas,
            "model_size": self.model_size,
            "channels": self.channels,
            "start": g.start_name,
            "primitive_rules": list(g.primitives),
            "primitives_range": [self.min_primitives, self.max_primitives],
            "grammar_hash": g.hash,
            "score_measure": self.score_measure,
        }


_REGISTRY: dict[str, Domain] = {}
_entry_points_loaded = False


def register_domain(domain: Domain, *, replace: bool = False) -> Domain:
    """Add a domain to the registry; a second domain with the same name is an error."""
    if domain.name in _REGISTRY and not replace:
        raise ValueError(f"a domain named '{domain.name}' is already registered")
    _REGISTRY[domain.name] = domain
    return domain


def unregister_domain(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        domain = obj() if callable(obj) and not isinstance(obj, Domain) else obj
        if domain.name not in _REGISTRY:
            register_domain(domain)


def available_domains() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY)


def get_domain(name: str) -> Domain:
    """The registered domain `name`; an unknown name lists the choices."""
    _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise TreediffError(f"unknown domain '{name}'; choices: {', '.join(sorted(_REGISTRY))}") from None


def builtin_grammar(filename: str) -> Path:
    """Path of a grammar file shipped inside the package (loaded like Lark loads its own)."""
    return Path(str(importlib.resources.files("treediff") / "grammars" / filename))


def _register_builtins() -> None:
    from .renderers.csg2d import CSG2DRenderer, csg_goal
    from .renderers.csg2d_repair import csg2d_fits, csg2d_repairs
    from .renderers.tinysvg import TinySVGRenderer, rgb_goal

    register_domain(Domain(
        name="csg2d",
        grammar_file=builtin_grammar("csg2d.lark"),
        renderer=CSG2DRenderer,
        goal=csg_goal,
        min_complexity=0.04,
        repairs=csg2d_repairs,
        fits=csg2d_fits,
        description="circles and rotated quads combined by union and difference (tree-diffusion CSG2D)",
    ))
    register_domain(Domain(
        name="tinysvg",
        grammar_file=builtin_grammar("tinysvg.lark"),
        renderer=TinySVGRenderer,
        goal=rgb_goal,
        score_measure="1-rmse",
        min_complexity=0.0055,  # drops blank canvases (everything moved off-screen or white on white)
        description="coloured rectangles and ellipses laid out by Arrange and Move (tree-diffusion TinySVG)",
    ))

    # The sketch module registers csg2d-sketch when it is imported. Importing it rather than
    # calling into it keeps `import treediff.sketch` working as a first import: that one
    # imports this module, which must not need the sketch module finished.
    from . import sketch  # noqa: F401


_register_builtins()
