"""TinySVG rendering: colours at known pixels, Arrange/Move layout, goal check.

Layout by hand: lengths are digits x 6 px, the drawing starts at a 4 px margin on a
128 px canvas (so at size 128 one SVG unit is one pixel).
"""

from __future__ import annotations

import numpy as np
import pytest

from treediff.domains import get_domain
from treediff.renderers.tinysvg import rgb_goal

RED, GREEN, BLUE, WHITE = (1, 0, 0), (0, 128 / 255, 0), (0, 0, 1), (1, 1, 1)
YELLOW, PURPLE, ORANGE, BLACK = (1, 1, 0), (128 / 255, 0, 128 / 255), (1, 165 / 255, 0), (0, 0, 0)


@pytest.fixture(scope="module")
def svg():
    return get_domain("tinysvg")


def pixel(image: np.ndarray, x: int, y: int) -> tuple:
    return tuple(float(v) for v in image[y, x])


def assert_colour(image, x, y, colour):
    np.testing.assert_allclose(pixel(image, x, y), colour, atol=0.01, err_msg=f"pixel ({x}, {y})")


def test_rect_fill_and_position(svg):
    image = svg.render_text("(Rect 4 6 red none 0)", 128)  # 24 x 36 px at (4, 4)
    assert image.shape == (128, 128, 3)
    assert_colour(image, 16, 22, RED)
    assert_colour(image, 5, 5, RED)
    assert_colour(image, 26, 38, RED)
    assert_colour(image, 29, 22, WHITE)  # right of the rect
    assert_colour(image, 16, 41, WHITE)  # below it
    assert_colour(image, 2, 2, WHITE)  # the margin
    assert np.count_nonzero(np.all(np.abs(image - RED) < 0.01, axis=2)) == 24 * 36


@pytest.mark.parametrize("name,colour", [("red", RED), ("green", GREEN), ("blue", BLUE), ("yellow", YELLOW),
                                         ("purple", PURPLE), ("orange", ORANGE), ("black", BLACK),
                                         ("white", WHITE)])
def test_named_colours(svg, name, colour):
    assert_colour(svg.render_text(f"(Rect 3 3 {name} none 0)", 128), 10, 10, colour)


def test_fill_none_and_stroke(svg):
    image = svg.render_text("(Rect 6 6 none black 4)", 128)  # a 4 px outline centred on the edges
    assert_colour(image, 20, 20, WHITE)  # no fill
    assert_colour(image, 4, 20, BLACK)  # left edge at x = 4, stroke covers 2..6
    assert_colour(image, 20, 39, BLACK)  # bottom edge at y = 40
    assert_colour(image, 20, 44, WHITE)


def test_ellipse_is_inscribed_in_its_box(svg):
    image = svg.render_text("(Ellipse 6 4 orange none 0)", 128)  # 36 x 24 px centred at (22, 16)
    assert_colour(image, 22, 16, ORANGE)
    assert_colour(image, 5, 16, ORANGE)  # near the left end of the long axis
    assert_colour(image, 5, 5, WHITE)  # the box corner is outside the ellipse
    assert_colour(image, 39, 27, WHITE)


def test_arrange_vertical_centres_the_second_below_the_first(svg):
    # a: 24 x 12 at (4, 4); b: 12 x 12, centred: x = 4 + 6, y = 4 + 12 + gap 6 = 22.
    image = svg.render_text("(Arrange v (Rect 4 2 red none 0) (Rect 2 2 blue none 0) 1)", 128)
    assert_colour(image, 16, 10, RED)
    assert_colour(image, 16, 19, WHITE)  # the gap
    assert_colour(image, 16, 28, BLUE)
    assert_colour(image, 11, 23, BLUE)
    assert_colour(image, 8, 28, WHITE)  # left of the centred second rect
    assert_colour(image, 24, 28, WHITE)


def test_arrange_horizontal_centres_the_second_right_of_the_first(svg):
    # a: 12 x 24 at (4, 4); b: 12 x 12 at x = 4 + 12 + gap 12 = 28, centred: y = 4 + 6.
    image = svg.render_text("(Arrange h (Rect 2 4 red none 0) (Rect 2 2 blue none 0) 2)", 128)
    assert_colour(image, 10, 16, RED)
    assert_colour(image, 22, 16, WHITE)  # the gap
    assert_colour(image, 34, 16, BLUE)
    assert_colour(image, 34, 7, WHITE)  # above the centred second rect
    assert_colour(image, 34, 24, WHITE)


def test_move_shifts_right_and_down(svg):
    image = svg.render_text("(Move (Rect 2 2 green none 0) 3 1)", 128)  # 12 x 12 at (22, 10)
    assert_colour(image, 28, 16, GREEN)
    assert_colour(image, 8, 8, WHITE)
    unmoved = svg.render_text("(Rect 2 2 green none 0)", 128)
    np.testing.assert_array_equal(image[10:22, 22:34], unmoved[4:16, 4:16])


def test_move_inside_arrange_keeps_the_layout_size(svg):
    # Move grows its box by (dx, dy), so the second child of Arrange h shifts right by dx.
    moved = svg.render_text("(Arrange h (Move (Rect 2 2 red none 0) 2 0) (Rect 2 2 blue none 0) 0)", 128)
    assert_colour(moved, 10, 10, WHITE)  # where the red rect was before the move
    assert_colour(moved, 22, 10, RED)  # red now spans x = 16..28
    assert_colour(moved, 34, 10, BLUE)  # blue follows the 24 px wide moved box: x = 28..40


def test_later_shapes_draw_over_earlier_ones(svg):
    image = svg.render_text("(Arrange v (Rect 4 4 red none 0) (Move (Rect 2 2 blue none 0) 0 0) 0)", 128)
    assert_colour(image, 16, 10, RED)
    assert_colour(image, 16, 34, BLUE)


def test_smaller_renders_are_the_same_picture_scaled(svg):
    text = "(Arrange h (Ellipse 4 4 blue black 1) (Rect 3 5 yellow none 0) 1)"
    big, small = svg.render_text(text, 128), svg.render_text(text, 64)
    assert small.shape == (64, 64, 3)
    down = big.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))
    assert float(np.abs(small - down).mean()) < 0.01


def test_rgb_goal(svg):
    target = svg.render_text("(Arrange h (Rect 4 4 red none 0) (Ellipse 3 3 blue none 0) 1)", 64)
    assert rgb_goal(target, target.copy()) == (True, 1.0)
    noisy = np.clip(target + np.random.default_rng(0).normal(0, 0.005, target.shape), 0, 1)
    assert rgb_goal(target, noisy)[0]
    recoloured = svg.render_text("(Arrange h (Rect 4 4 green none 0) (Ellipse 3 3 blue none 0) 1)", 64)
    solved, score = rgb_goal(target, recoloured)
    assert not solved and score < 1.0 - 0.017
    # Reports name the measure: 1 - RMSE here, not CSG2D's IoU.
    assert svg.describe()["score_measure"] == "1-rmse"
