"""TinySVG renderer: compile the program to SVG text, rasterise it with cairosvg.

Layout: lengths are digits in units of 6 px. `Arrange v a b gap` puts b below a, `h` puts
b right of a, centred across the stacking direction, `gap` units apart; `Move c dx dy`
shifts c right and down. The whole drawing starts at a 4 px margin on a white canvas of
`CANVAS` px, scaled to the requested size.
"""

from __future__ import annotations

import numpy as np

from ..grammar import Grammar, Node
from .svgraster import rasterize_svg

UNIT = 6
CANVAS = 128
MARGIN = 4


class TinySVGRenderer:
    channels = 3

    def __init__(self, grammar: Grammar):
        self.grammar = grammar

    def _layout(self, node: Node) -> tuple[str, float, float]:
        """SVG fragment drawn from (0, 0), and its width and height in px."""
        g = self.grammar
        kind = g.nonterminals[node.nt]
        if kind == "s":
            return self._layout(node.children[0])
        text = [g.token_text[c] if type(c) is int else None for c in node.children]
        if kind in ("rect", "ellipse"):
            w, h = int(text[2]) * UNIT, int(text[3]) * UNIT
            fill, stroke, stroke_width = text[4], text[5], int(text[6])
            paint = f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"'
            if kind == "rect":
                return f'<rect x="0" y="0" width="{w}" height="{h}" {paint}/>', w, h
            return f'<ellipse cx="{w / 2:g}" cy="{h / 2:g}" rx="{w / 2:g}" ry="{h / 2:g}" {paint}/>', w, h
        if kind == "arrange":
            first, wa, ha = self._layout(node.children[3])
            second, wb, hb = self._layout(node.children[4])
            gap = int(text[5]) * UNIT
            if text[2] == "v":
                width = max(wa, wb)
                return (f'<g transform="translate({(width - wa) / 2:g} 0)">{first}</g>'
                        f'<g transform="translate({(width - wb) / 2:g} {ha + gap:g})">{second}</g>',
                        width, ha + gap + hb)
            height = max(ha, hb)
            return (f'<g transform="translate(0 {(height - ha) / 2:g})">{first}</g>'
                    f'<g transform="translate({wa + gap:g} {(height - hb) / 2:g})">{second}</g>',
                    wa + gap + wb, height)
        if kind == "move":
            inner, w, h = self._layout(node.children[2])
            dx, dy = int(text[3]) * UNIT, int(text[4]) * UNIT
            return f'<g transform="translate({dx} {dy})">{inner}</g>', w + dx, h + dy
        raise ValueError(f"TinySVG renderer does not know rule {kind}")

    def svg(self, node: Node, size: int = CANVAS) -> str:
        body, _, _ = self._layout(node)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
                f'viewBox="0 0 {CANVAS} {CANVAS}"><rect width="{CANVAS}" height="{CANVAS}" fill="white"/>'
                f'<g transform="translate({MARGIN} {MARGIN})">{body}</g></svg>')

    def render(self, node: Node, size: int = 64) -> np.ndarray:
        """The program's picture as float32 (size, size, 3) RGB in [0, 1]."""
        return rasterize_svg(self.svg(node, size), size)


def rgb_goal(target: np.ndarray, image: np.ndarray, threshold: float = 0.017) -> tuple[bool, float]:
    """Solved when the RGB root-mean-square error is below `threshold`; score = 1 - RMSE."""
    rmse = float(np.sqrt(np.mean((target.astype(np.float32) - image.astype(np.float32)) ** 2)))
    return bool(rmse < threshold), 1.0 - rmse

