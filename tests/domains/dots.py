"""The "dots" domain: a grammar file, a renderer that compiles to SVG, a goal check.

This is the worked example of docs/adding-a-grammar.md and the third domain the contract
tests run over (tests/conftest.py registers it). It uses only treediff's public pieces:
`Grammar` tables, `rasterize_svg` and `Domain`; nothing in the core knows about it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from treediff.domains import Domain
from treediff.grammar import Grammar, Node
from treediff.renderers.svgraster import rasterize_svg

GRAMMAR_FILE = Path(__file__).with_name("dots.lark")
CELLS = 8  # the canvas is an 8 x 8 grid
CELL_PX = 16  # cell size in the SVG's own coordinates (a 128 px canvas)
PALETTE = {"white": "#ffffff", "red": "#e02020", "gold": "#f0b000", "teal": "#008080", "navy": "#000080"}


class DotsRenderer:
    """Compiles a derivation tree to SVG and rasterises it with cairosvg (RGB in [0, 1])."""

    channels = 3

    def __init__(self, grammar: Grammar):
        self.grammar = grammar

    def _shapes(self, node: Node, out: list[str]) -> None:
        """Append the SVG element of every shape under `node`, left to right."""
        g = self.grammar
        kind = g.nonterminals[node.nt]
        if kind in ("dot", "bar"):
            # Token children as text: "dot" x y r colour, "bar" x y w h colour.
            text = [g.token_text[c] for c in node.children]
            x, y = int(text[1]), int(text[2])
            if kind == "dot":
                r, colour = int(text[3]), text[4]
                out.append(f'<circle cx="{(x + 0.5) * CELL_PX:g}" cy="{(y + 0.5) * CELL_PX:g}" '
                           f'r="{r * CELL_PX / 2:g}" fill="{PALETTE[colour]}"/>')
            else:
                w, h, colour = int(text[3]), int(text[4]), text[5]
                out.append(f'<rect x="{x * CELL_PX}" y="{y * CELL_PX}" width="{w * CELL_PX}" '
                           f'height="{h * CELL_PX}" fill="{PALETTE[colour]}"/>')
            return
        for child in node.children:
            if type(child) is not int:  # ints are tokens; shapes are nested in nodes
                self._shapes(child, out)

    def svg(self, node: Node, size: int = CELLS * CELL_PX) -> str:
        background = PALETTE[self.grammar.token_text[node.children[1]]]  # scene: "canvas" COLOR ...
        shapes: list[str] = []
        self._shapes(node, shapes)
        side = CELLS * CELL_PX
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
                f'viewBox="0 0 {side} {side}"><rect width="{side}" height="{side}" fill="{background}"/>'
                f'{"".join(shapes)}</svg>')

    def render(self, node: Node, size: int = 64) -> np.ndarray:
        """float32 (size, size, 3) RGB in [0, 1]."""
        return rasterize_svg(self.svg(node, size), size)


def dots_goal(target: np.ndarray, image: np.ndarray, threshold: float = 0.02) -> tuple[bool, float]:
    """Solved when the mean absolute RGB difference is below `threshold`; score = 1 - that."""
    error = float(np.mean(np.abs(target.astype(np.float32) - image.astype(np.float32))))
    return error < threshold, 1.0 - error


def domain() -> Domain:
    """The Domain, as a function: the form an entry point in pyproject.toml can name."""
    return Domain(
        name="dots",
        grammar_file=GRAMMAR_FILE,
        renderer=DotsRenderer,
        goal=dots_goal,
        min_primitives=1,
        max_primitives=6,
        description="coloured dots and bars on an 8x8 grid (test and tutorial domain)",
    )
