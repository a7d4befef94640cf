"""CSG2D renderer: anti-aliased coverage images computed with numpy, any size.

Each shape is evaluated as a signed distance (in pixels) only inside its bounding box, and
coverage = clip(distance + 0.5, 0, 1), a one-pixel box-filter approximation of the area
inside each pixel. Union is max, difference is min(a, 1 - b): true tree semantics.
The SVG export draws the same geometry, with differences expressed as masks (drawn so that
cairosvg, which masks by alpha only, and browsers agree).
"""

from __future__ import annotations

import math

import numpy as np

from ..grammar import Grammar, Node

UNITS = 32.0  # the canvas is 32 units wide; numbers are half-units (a circle at x is at 2x)
_ANGLES = {letter: i * 45.0 for i, letter in enumerate("GHIJKLMN")}


def _num(text: str) -> int:
    return int(text, 16)


class CSG2DRenderer:
    channels = 1

    def __init__(self, grammar: Grammar):
        self.grammar = grammar
        g = grammar
        self._shape_of_alt = {}
        for alt in g.alternatives:
            self._shape_of_alt[alt.index] = g.nonterminals[alt.origin]
        self._grids: dict[int, np.ndarray] = {}

    def _grid(self, size: int) -> np.ndarray:
        """Pixel-centre coordinates in canvas units, cached per size."""
        grid = self._grids.get(size)
        if grid is None:
            grid = ((np.arange(size, dtype=np.float32) + 0.5) * (UNITS / size))
            self._grids[size] = grid
        return grid

    def render(self, node: Node, size: int = 64) -> np.ndarray:
        """The program's picture as float32 (size, size) in [0, 1], 1 = inside."""
        return self._eval(node, size)

    def _eval(self, node: Node, size: int) -> np.ndarray:
        g = self.grammar
        kind = g.nonterminals[node.nt]
        if kind == "s":
            return self._eval(node.children[0], size)
        text = [g.token_text[c] if type(c) is int else None for c in node.children]
        if kind == "binop":
            left = self._eval(node.children[2], size)
            right = self._eval(node.children[3], size)
            if text[1] == "+":
                return np.maximum(left, right, out=left)
            return np.minimum(left, 1.0 - right, out=left)
        if kind == "circle":
            r, x, y = (_num(t) for t in text[2:5])
            return self._circle(2.0 * x, 2.0 * y, 2.0 * r, size)
        if kind == "quad":
            x, y, w, h = (_num(t) for t in text[2:6])
            return self._quad(2.0 * x, 2.0 * y, 2.0 * w, 2.0 * h, _ANGLES[text[6]], size)
        raise ValueError(f"CSG2D renderer does not know rule {kind}")

    def _window(self, cx: float, cy: float, radius: float, size: int):
        """Pixel index ranges covering a disc of `radius` units around (cx, cy), plus a margin."""
        scale = size / UNITS
        lo_x = max(int(math.floor((cx - radius) * scale)) - 1, 0)
        hi_x = min(int(math.ceil((cx + radius) * scale)) + 1, size)
        lo_y = max(int(math.floor((cy - radius) * scale)) - 1, 0)
        hi_y = min(int(math.ceil((cy + radius) * scale)) + 1, size)
        return lo_x, hi_x, lo_y, hi_y

    def _circle(self, cx: float, cy: float, r: float, size: int) -> np.ndarray:
        out = np.zeros((size, size), dtype=np.float32)
        lo_x, hi_x, lo_y, hi_y = self._window(cx, cy, r, size)
        if lo_x >= hi_x or lo_y >= hi_y:
            return out
        grid = self._grid(size)
        dx = grid[lo_x:hi_x] - cx
        dy = grid[lo_y:hi_y, None] - cy
        dist = r - np.sqrt(dx * dx + dy * dy)
        np.clip(dist * (size / UNITS) + 0.5, 0.0, 1.0, out=out[lo_y:hi_y, lo_x:hi_x])
        return out

    def _quad(self, cx: float, cy: float, w: float, h: float, angle: float, size: int) -> np.ndarray:
        out = np.zeros((size, size), dtype=np.float32)
        lo_x, hi_x, lo_y, hi_y = self._window(cx, cy, 0.5 * math.hypot(w, h), size)
        if lo_x >= hi_x or lo_y >= hi_y:
            return out
        grid = self._grid(size)
        theta = math.radians(angle)
        c, s = math.cos(theta), math.sin(theta)
        dx = grid[lo_x:hi_x] - cx
        dy = grid[lo_y:hi_y, None] - cy
        # Coordinates in the quad's own frame (rotate by -angle).
        u = np.abs(c * dx + s * dy)
        v = np.abs(-s * dx + c * dy)
        dist = np.minimum(0.5 * w - u, 0.5 * h - v)
        np.clip(dist * (size / UNITS) + 0.5, 0.0, 1.0, out=out[lo_y:hi_y, lo_x:hi_x])
        return out

    # ------------------------------------------------------------------ SVG
    def svg(self, node: Node, size: int = 256) -> str:
        """An SVG document drawing the program in black on white, differences as masks.

        User units are document pixels (coordinates are scaled when written), because
        cairosvg rasterises a mask at its size in user units: in canvas units it is blurred.
        """
        self._scale = size / UNITS
        defs: list[str] = []
        body = self._svg(node, defs)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
                f'viewBox="0 0 {size} {size}"><rect width="{size}" height="{size}" fill="white"/>'
                f'<defs>{"".join(defs)}</defs>'
                f'<g fill="black">{body}</g></svg>')

    def _svg(self, node: Node, defs: list[str]) -> str:
        """SVG elements painting the node's region in the inherited fill colour."""
        g = self.grammar
        kind = g.nonterminals[node.nt]
        if kind == "s":
            return self._svg(node.children[0], defs)
        if kind in ("circle", "quad"):
            return self._shape_svg(node)
        left, right = node.children[2], node.children[3]
        if g.token_text[node.children[1]] == "+":
            return f"<g>{self._svg(left, defs)}{self._svg(right, defs)}</g>"
        return f'<g mask="url(#{self._mask(self._complement(right, defs), defs)})">{self._svg(left, defs)}</g>'

    def _complement(self, node: Node, defs: list[str]) -> str:
        """SVG elements painting everything except the node's region (in the inherited fill).

        Masks are drawn white on transparent, so they mean the same under SVG's luminance
        masks and under cairosvg, which masks by alpha only.
        """
        g = self.grammar
        kind = g.nonterminals[node.nt]
        if kind == "s":
            return self._complement(node.children[0], defs)
        if kind in ("circle", "quad"):
            # The whole canvas (with a margin) minus the shape's outline, by the even-odd rule.
            lo, hi = -self._scale, (UNITS + 1) * self._scale
            outer = f"M{lo:g} {lo:g}H{hi:g}V{hi:g}H{lo:g}Z"
            return f'<path fill-rule="evenodd" d="{outer} {self._outline(node)}"/>'
        left, right = node.children[2], node.children[3]
        if g.token_text[node.children[1]] == "+":  # not (A or B) = not A, masked by not B
            mask_id = self._mask(self._complement(right, defs), defs)
            return f'<g mask="url(#{mask_id})">{self._complement(left, defs)}</g>'
        return f"<g>{self._complement(left, defs)}{self._svg(right, defs)}</g>"  # not (A - B) = not A or B

    def _mask(self, body: str, defs: list[str]) -> str:
        mask_id = f"m{len(defs)}"
        k = self._scale
        defs.append(f'<mask id="{mask_id}" maskUnits="userSpaceOnUse" x="{-k:g}" y="{-k:g}" '
                    f'width="{(UNITS + 2) * k:g}" height="{(UNITS + 2) * k:g}">'
                    f'<g fill="white">{body}</g></mask>')
        return mask_id

    def _shape_svg(self, node: Node) -> str:
        text = [self.grammar.token_text[c] if type(c) is int else None for c in node.children]
        k = 2 * self._scale  # numbers are half-units
        if text[1] == "Circle":
            r, x, y = (k * _num(t) for t in text[2:5])
            return f'<circle cx="{x:g}" cy="{y:g}" r="{r:g}"/>'
        x, y, w, h = (k * _num(t) for t in text[2:6])
        return (f'<rect x="{x - w / 2:g}" y="{y - h / 2:g}" width="{w:g}" height="{h:g}" '
                f'transform="rotate({_ANGLES[text[6]]:g} {x:g} {y:g})"/>')

    def _outline(self, node: Node) -> str:
        """The shape's boundary as SVG path data (a closed subpath)."""
        text = [self.grammar.token_text[c] if type(c) is int else None for c in node.children]
        k = 2 * self._scale
        if text[1] == "Circle":
            r, x, y = (k * _num(t) for t in text[2:5])
            return f"M{x - r:g} {y:g}A{r:g} {r:g} 0 1 0 {x + r:g} {y:g}A{r:g} {r:g} 0 1 0 {x - r:g} {y:g}Z"
        x, y, w, h = (k * _num(t) for t in text[2:6])
        theta = math.radians(_ANGLES[text[6]])
        c, s = math.cos(theta), math.sin(theta)
        corners = [(x + c * u - s * v, y + s * u + c * v)
                   for u, v in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))]
        return "M" + "L".join(f"{px:.3f} {py:.3f}" for px, py in corners) + "Z"


def masks_iou(target: np.ndarray, image: np.ndarray) -> float:
    """Mean of foreground and background IoU of the >0.5 masks (1.0 when both are equal)."""
    a = target > 0.5
    b = image > 0.5
    inter_fg = np.count_nonzero(a & b)
    union_fg = np.count_nonzero(a | b)
    inter_bg = np.count_nonzero(~a & ~b)
    union_bg = np.count_nonzero(~a | ~b)
    fg = inter_fg / union_fg if union_fg else 1.0
    bg = inter_bg / union_bg if union_bg else 1.0
    return 0.5 * (fg + bg)


def csg_goal(target: np.ndarray, image: np.ndarray, threshold: float = 0.98) -> tuple[bool, float]:
    """Solved when the mean fg/bg IoU, of the image or of its inverse, exceeds `threshold`."""
    score = max(masks_iou(target, image), masks_iou(target, 1.0 - image))
    return bool(score > threshold), float(score)
