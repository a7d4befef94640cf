"""CSG2D rendering checked against geometry computed by hand, and the goal check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from treediff.domains import get_domain
from treediff.renderers.csg2d import csg_goal, masks_iou
from treediff.renderers.svgraster import rasterize_svg

SIZE = 128  # 4 px per canvas unit
PX = SIZE / 32


@pytest.fixture(scope="module")
def csg():
    return get_domain("csg2d")


def render(csg, text: str, size: int = SIZE) -> np.ndarray:
    return csg.render_text(text, size)


def at(image: np.ndarray, x: float, y: float) -> float:
    """The pixel containing canvas point (x, y) in units; x is the column, y the row."""
    scale = image.shape[0] / 32
    return float(image[int(y * scale), int(x * scale)])


@pytest.mark.parametrize("r,x,y", [(4, 8, 8), (2, 5, 10), (7, 8, 8), (1, 3, 3)])
def test_circle_area_matches_pi_r_squared(csg, r, x, y):
    image = render(csg, f"(Circle {r:X} {x:X} {y:X})")
    expected = math.pi * (2 * r) ** 2 / 32 ** 2  # radius 2r units on a 32-unit canvas
    covered = np.count_nonzero(image > 0.5) / image.size
    assert covered == pytest.approx(expected, rel=0.03 if r >= 2 else 0.05)  # pixel centres inside
    # Anti-aliased coverage (a one-pixel box filter) over-counts a little on tight curves.
    assert float(image.mean()) == pytest.approx(expected, rel=0.01 if r >= 2 else 0.04)


def test_circle_position_is_column_x_row_y(csg):
    image = render(csg, "(Circle 2 4 C)")  # centre (8, 24) units
    assert at(image, 8, 24) == 1.0
    assert at(image, 24, 8) == 0.0
    assert at(image, 8 + 3.5, 24) == 1.0 and at(image, 8 + 4.5, 24) == 0.0


def test_circle_clipped_by_canvas_edge(csg):
    image = render(csg, "(Circle 4 0 8)")  # centre on the left edge: half a disc
    expected = 0.5 * math.pi * 8 ** 2 / 32 ** 2
    assert float(image.mean()) == pytest.approx(expected, rel=0.02)


def test_square_rotated_45_degrees_is_a_diamond(csg):
    # An 8 x 8 square centred at (16, 16), rotated 45 degrees: corners 4*sqrt(2) from the centre.
    image = render(csg, "(Quad 8 8 4 4 H)")
    half_diagonal = 4 * math.sqrt(2)
    for dx, dy in [(1, 0), (-1, 0), (0, 1), (0, -1)]:
        assert at(image, 16 + dx * (half_diagonal - 0.5), 16 + dy * (half_diagonal - 0.5)) == 1.0
        assert at(image, 16 + dx * (half_diagonal + 0.5), 16 + dy * (half_diagonal + 0.5)) == 0.0
    # The unrotated square's corners (16 +- 3.75, 16 +- 3.75) are outside the diamond ...
    for sx in (-1, 1):
        for sy in (-1, 1):
            assert at(image, 16 + sx * 3.75, 16 + sy * 3.75) == 0.0
    # ... and they are inside the unrotated square.
    square = render(csg, "(Quad 8 8 4 4 G)")
    for sx in (-1, 1):
        for sy in (-1, 1):
            assert at(square, 16 + sx * 3.75, 16 + sy * 3.75) == 1.0
    assert float(image.mean()) == pytest.approx(float(square.mean()), rel=0.02)
    assert float(square.mean()) == pytest.approx(64 / 32 ** 2, rel=0.01)


def test_rotation_by_90_degrees_swaps_width_and_height(csg):
    wide = render(csg, "(Quad 8 8 6 2 G)")  # 12 x 4 units
    tall = render(csg, "(Quad 8 8 6 2 I)")  # rotated 90 degrees: 4 x 12
    assert at(wide, 16 + 5, 16) == 1.0 and at(wide, 16, 16 + 5) == 0.0
    assert at(tall, 16, 16 + 5) == 1.0 and at(tall, 16 + 5, 16) == 0.0
    np.testing.assert_allclose(tall, wide.T, atol=1e-5)
    # 180 degrees maps a rectangle onto itself.
    np.testing.assert_allclose(render(csg, "(Quad 8 8 6 2 K)"), wide, atol=1e-5)


def test_union_and_difference_are_pixelwise_max_and_min(csg):
    a, b = "(Circle 4 6 8)", "(Quad 9 8 5 3 H)"
    ia, ib = render(csg, a), render(csg, b)
    np.testing.assert_array_equal(render(csg, f"(+ {a} {b})"), np.maximum(ia, ib))
    np.testing.assert_array_equal(render(csg, f"(- {a} {b})"), np.minimum(ia, 1 - ib))
    assert render(csg, f"(- {a} {a})").max() <= 0.5  # only anti-aliased rims survive


def test_true_tree_semantics_for_right_nested_difference(csg):
    # (+ A (- B C)) is A | (B - C), not ((A | B) - C) as a left-to-right flattening would draw.
    a = "(Circle 3 5 8)"  # disc r=6 at (10, 16)
    b = "(Quad 8 8 F F G)"  # 30 x 30 square covering the middle of the canvas
    c = "(Circle 3 7 8)"  # disc r=6 at (14, 16), overlapping a
    image = render(csg, f"(+ {a} (- {b} {c}))")
    assert at(image, 10, 16) == 1.0  # in A and in C: kept, because A is added after B - C
    assert at(image, 18, 16) == 0.0  # in B and in C only: cut out
    assert at(image, 26, 16) == 1.0  # in B only
    assert at(image, 0.2, 0.2) == 0.0  # outside everything
    flattened = render(csg, f"(- (+ {a} {b}) {c})")
    assert at(flattened, 10, 16) == 0.0


def test_anti_aliasing_only_at_edges(csg):
    image = render(csg, "(Circle 4 8 8)")  # radius 32 px around pixel (64, 64)
    rows, cols = np.nonzero((image > 0) & (image < 1))
    distance = np.hypot(rows + 0.5 - 64, cols + 0.5 - 64)
    assert len(distance) > 2 * math.pi * 32 * 0.5  # the rim is really anti-aliased
    assert np.all(np.abs(distance - 32) <= 1.0)
    interior = np.hypot(*np.mgrid[0:SIZE, 0:SIZE] + 0.5 - 64) < 31
    assert np.all(image[interior] == 1.0)
    # An axis-aligned quad with edges on pixel boundaries has no grey pixels at all.
    quad = render(csg, "(Quad 8 8 4 2 G)")
    assert set(np.unique(quad)) <= {0.0, 1.0}


def test_renders_at_any_size_agree(csg):
    text = "(- (Quad 8 8 6 5 H) (Circle 3 9 7))"
    small, big = render(csg, text, 64), render(csg, text, 128)
    downsampled = big.reshape(64, 2, 64, 2).mean(axis=(1, 3))
    assert float(np.abs(small - downsampled).mean()) < 0.01


def test_svg_rasterises_to_the_same_picture(csg):
    text = "(+ (- (Quad 8 8 6 5 H) (Circle 3 9 7)) (Circle 2 3 C))"
    tree = csg.grammar.parse(text)
    raster = rasterize_svg(csg.svg(tree), SIZE)
    assert raster.shape == (SIZE, SIZE, 3)
    ink = 1.0 - raster.mean(axis=2)  # the SVG draws black shapes on white
    assert float(np.abs(ink - csg.render(tree, SIZE)).mean()) < 0.01
    assert csg_goal(csg.render(tree, SIZE), ink)[0]


def test_goal_identical_and_inverse_are_solved(csg):
    image = render(csg, "(- (Quad 8 8 6 5 H) (Circle 3 9 7))", 64)
    solved, score = csg_goal(image, image.copy())
    assert solved and score == pytest.approx(1.0)
    solved, score = csg_goal(image, 1.0 - image)
    assert solved and score == pytest.approx(1.0)


def test_goal_different_pictures_are_not_solved(csg):
    target = render(csg, "(Circle 4 8 8)", 64)
    moved = render(csg, "(Circle 4 9 8)", 64)  # shifted by 2 units = 4 px
    solved, score = csg_goal(target, moved)
    assert not solved and 0.5 < score < 0.98
    other = render(csg, "(Quad 3 3 2 2 G)", 64)
    solved, far = csg_goal(target, other)
    assert not solved and far < score


def test_masks_iou_by_hand():
    a = np.zeros((4, 4), np.float32)
    b = np.zeros((4, 4), np.float32)
    a[:2] = 1.0  # 8 foreground pixels
    b[:1] = 1.0  # 4 foreground pixels, all inside a's
    # fg IoU = 4/8, bg IoU = 8/12
    assert masks_iou(a, b) == pytest.approx(0.5 * (4 / 8 + 8 / 12))
    assert masks_iou(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
