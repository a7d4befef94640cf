"""Matching pursuit over every CSG2D grid shape (renderers/csg2d_pursuit.py)."""

from __future__ import annotations

import numpy as np
import pytest

from treediff.domains import get_domain
from treediff.renderers.csg2d_pursuit import (_circle_sums, _diagonal_quad_sums, _square_quad_sums, add_gain,
                                              best_shapes, cut_gain)

HEX = "0123456789ABCDEF"


@pytest.fixture(scope="module")
def csg():
    return get_domain("csg2d")


def test_every_shapes_sum_is_the_sum_over_its_rendered_pixels(csg):
    """The tables agree with the renderer: for random shapes of each family, the sum of a
    random gain map over the pixels the renderer draws (coverage > 0.5) is the table's."""
    rng = np.random.default_rng(0)
    gain = rng.normal(size=(64, 64))
    circles, square, diagonal = _circle_sums(gain), _square_quad_sums(gain), _diagonal_quad_sums(gain)
    for r, x, y, w, h in rng.integers(0, 16, size=(60, 5)):
        for text, table_sum in ((f"(Circle {HEX[r]} {HEX[x]} {HEX[y]})", circles[r, x, y]),
                                (f"(Quad {HEX[x]} {HEX[y]} {HEX[w]} {HEX[h]} G)", square[y, h, x, w]),
                                (f"(Quad {HEX[x]} {HEX[y]} {HEX[w]} {HEX[h]} H)", diagonal[x, y, w, h])):
            drawn = csg.render_text(text) > 0.5
            assert table_sum == pytest.approx(gain[drawn].sum(), abs=1e-9), text


@pytest.mark.parametrize("shape", [
    "(Circle 4 8 8)",
    "(Circle F E 5)",  # mostly off the canvas: only a corner of it shows
    "(Quad 8 6 A 4 G)",
    "(Quad 7 9 A 3 I)",  # 90 degrees: the same picture as a G quad with its sides swapped
    "(Quad 8 8 A 3 H)",
    "(Quad 5 A 6 2 N)",  # 315 degrees
])
def test_the_best_shape_for_a_lone_shape_draws_it(csg, shape):
    target = csg.render_text(shape)
    best = best_shapes(add_gain(target, np.zeros_like(target)), 1)
    assert len(best) == 1 and csg.goal(target, csg.render_text(best[0]))[1] == 1.0, best


def test_cut_gain_finds_the_hole_and_add_gain_the_missing_part(csg):
    holed = csg.render_text("(- (Circle 6 8 8) (Quad 8 8 2 3 H))")
    current = csg.render_text("(Circle 6 8 8)")
    cut = best_shapes(cut_gain(holed, current), 1)[0]
    assert csg.goal(holed, csg.render_text(f"(- (Circle 6 8 8) {cut})"))[1] == 1.0
    assert best_shapes(add_gain(holed, current), 3) == []  # no ink is missing


def test_nothing_is_offered_when_the_render_matches(csg):
    image = csg.render_text("(- (+ (Circle 4 8 8) (Quad 8 8 4 4 H)) (Circle 1 8 8))")
    assert best_shapes(add_gain(image, image), 5) == [] and best_shapes(cut_gain(image, image), 5) == []


def test_shapes_come_best_first(csg):
    target = csg.render_text("(+ (Circle 6 5 5) (Circle 2 D D))")
    gain = add_gain(target, np.zeros_like(target))
    found = best_shapes(gain, 4)
    sums = [gain[csg.render_text(s) > 0.5].sum() for s in found]
    assert len(found) == 4 and sums == sorted(sums, reverse=True)
