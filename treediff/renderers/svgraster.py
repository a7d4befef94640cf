"""Rasterise SVG text to a numpy array with cairosvg, straight from cairo's pixel buffer."""

from __future__ import annotations

import numpy as np
from cairosvg.parser import Tree
from cairosvg.surface import PNGSurface


def rasterize_svg(svg: str, size: int) -> np.ndarray:
    """float32 (size, size, 3) RGB in [0, 1]; transparent areas come out white.

    Drawing into cairo's image surface and reading its buffer skips the PNG encode/decode
    round trip of ``cairosvg.svg2png``.
    """
    tree = Tree(bytestring=svg.encode())
    surface = PNGSurface(tree, None, 96, output_width=size, output_height=size)
    surface.cairo.flush()
    stride = surface.cairo.get_stride()
    buf = np.frombuffer(surface.cairo.get_data(), dtype=np.uint8).reshape(size, stride // 4, 4)[:, :size]
    # cairo stores premultiplied BGRA (little-endian ARGB32); composite over white.
    bgr = buf[..., :3].astype(np.float32)
    alpha = buf[..., 3:4].astype(np.float32)
    rgb = (bgr[..., ::-1] + (255.0 - alpha)) / 255.0
    surface.finish()
    return np.clip(rgb, 0.0, 1.0)
