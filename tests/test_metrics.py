"""IoU and CSGNet's Chamfer distance on hand-made pictures."""

from __future__ import annotations

import numpy as np
import pytest

from treediff.metrics import CHAMFER_PENALTY, canny, chamfer, iou, program_metrics


def square(x0: int, y0: int, side: int, size: int = 64) -> np.ndarray:
    img = np.zeros((size, size), dtype=np.float32)
    img[y0:y0 + side, x0:x0 + side] = 1.0
    return img


def test_iou():
    a, b = square(0, 0, 10), square(5, 0, 10)
    assert iou(a, a) == 1.0
    assert iou(a, b) == pytest.approx(50 / 150)
    assert iou(a, square(30, 30, 10)) == 0.0
    assert iou(np.zeros((8, 8)), np.zeros((8, 8))) == 1.0


def test_canny_finds_a_thin_outline():
    edges = canny(square(20, 20, 20) > 0.5)
    assert edges.dtype == bool
    # One- or two-pixel outline around the 20x20 square, nothing inside or far outside.
    assert 76 <= edges.sum() <= 2 * 84
    assert not edges[25:35, 25:35].any()
    assert not edges[:15].any() and not edges[45:].any()


def test_chamfer_identical_shifted_and_symmetric():
    a = square(20, 20, 20)
    assert chamfer(a, a) == 0.0
    shifted = square(23, 20, 20)
    d = chamfer(a, shifted)
    assert 0.5 < d < 3.0  # vertical edges move 3 px, horizontal ones mostly overlap
    assert chamfer(shifted, a) == pytest.approx(d)
    assert chamfer(a, square(30, 20, 20)) > d  # further is worse


def test_chamfer_penalty_for_blank_or_full_pictures():
    a = square(20, 20, 20)
    assert chamfer(a, np.zeros_like(a)) == CHAMFER_PENALTY
    assert chamfer(a, np.ones_like(a)) == CHAMFER_PENALTY
    assert program_metrics(a, None) == {"iou": 0.0, "chamfer": CHAMFER_PENALTY}
    assert program_metrics(a, a) == {"iou": 1.0, "chamfer": 0.0}
