"""Fixed, reproducible test problems: programs generated from a seed, stored as text lists.

CSG2D problems are complexity-filtered as in the tree-diffusion paper: plain random
programs are often trivially simple pictures (one shape hiding the rest), so a problem is
kept only when the LZ4-compressed size of its binary mask, relative to the raw size, is
above a threshold.
"""

from __future__ import annotations

import random
from pathlib import Path

import lz4.block
import numpy as np

from .domains import Domain, get_domain
from .errors import TreediffError
from .grammar import Node
from .sampler import Sampler

COMPLEXITY_SIZE = 128
DEFAULT_THRESHOLD = {"csg2d": 0.035}  # about the median of random 2-8 primitive programs


def image_complexity(image: np.ndarray) -> float:
    """LZ4-compressed size / raw size of a picture's >0.5 mask (grey) or 8-bit RGB."""
    raw = ((image > 0.5).astype(np.uint8) * 255 if image.ndim == 2 else (image * 255).astype(np.uint8)).tobytes()
    return len(lz4.block.compress(raw, store_size=False)) / len(raw)


def complexity(domain: Domain, node: Node, size: int = COMPLEXITY_SIZE) -> float:
    """`image_complexity` of the program's render at `size` px."""
    return image_complexity(domain.render(node, size))


def make_test_set(domain_name: str, n: int, seed: int, min_primitives: int | None = None,
                  max_primitives: int | None = None, threshold: float | None = None) -> list[str]:
    """`n` distinct programs (primitive counts uniform in the range) passing the filter."""
    domain = get_domain(domain_name)
    lo = min_primitives or domain.min_primitives
    hi = max_primitives or domain.max_primitives
    threshold = DEFAULT_THRESHOLD.get(domain_name, 0.0) if threshold is None else threshold
    rng = random.Random(seed)
    sampler = Sampler(domain.grammar)
    seen, out = set(), []
    for _ in range(200 * n):
        node = sampler.sample_program(rng, lo, hi)
        text = domain.grammar.unparse(node)
        if text in seen:
            continue
        seen.add(text)
        if threshold and complexity(domain, node) < threshold:
            continue
        out.append(text)
        if len(out) == n:
            return out
    raise TreediffError(f"could not find {n} {domain_name} programs above complexity {threshold}")


def load_test_set(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.exists():
        raise TreediffError(f"test set not found: {path}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
