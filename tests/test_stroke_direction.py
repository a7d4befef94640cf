"""How far a candidate's outline runs across the pen (`treediff.stroke_direction`), and its
share in the answer's centre-line score (`sketch.detail_outline_score`)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt
from skimage.morphology import skeletonize

from treediff.preprocess import read_sketch
from treediff.sketch import (DIRECTION_WEIGHT, OUTLINE_SCALE, TRAIN_STYLE, detail_outline_score, outline_of,
                             register_sketch_domain, sketch_program, without_transform)
from treediff.sketch_registration import Similarity, register, to_program_frame
from treediff.stroke_direction import direction_mismatch, line_directions, nearest_pixels

BOX = "(Quad 8 8 C 6 G)"
CIRCLE = "(Circle 5 8 8)"  # radius 10 canvas units, centre of the canvas
BOX_AROUND_CIRCLE = "(Quad 8 8 A A G)"  # 20 x 20 units: its sides touch the circle


@pytest.fixture(scope="module")
def domain():
    return register_sketch_domain()


def _mismatch(pen: np.ndarray, render: np.ndarray, transform=None) -> float:
    outline = outline_of(render)
    if transform is None:
        _, transform = register(pen, distance_transform_edt(~pen).astype(np.float32), outline)
    return direction_mismatch(pen, line_directions(pen), nearest_pixels(pen), outline, render, transform)


@pytest.mark.parametrize("turn", [8.0, -8.0])
def test_the_pen_is_compared_after_the_registered_turn(domain, turn):
    """A box's own outline, turned as a whole drawing is, runs along the box once the turn
    is undone; read with the turn the wrong way round, its sides cross the pen."""
    render = domain.render_text(BOX, 256)
    # the drawing is the outline moved by the turn: resampled through the inverse transform
    pen = skeletonize(to_program_frame(outline_of(render).astype(np.float32), Similarity(angle_deg=-turn)) > 0.3)
    _, transform = register(pen, distance_transform_edt(~pen).astype(np.float32), outline_of(render))
    assert abs(transform.angle_deg - turn) < 1.0
    assert _mismatch(pen, render, transform) < 0.01
    wrong_way = Similarity(-transform.angle_deg, transform.scale, transform.dx, transform.dy)
    assert _mismatch(pen, render, wrong_way) > 0.1


def test_a_hand_drawn_loop_runs_along_the_circle_not_the_box_around_it(domain):
    """Both outlines lie near the loop; only the box's corners and sides cross its
    direction, so the direction term costs the box more of its score than the circle."""
    for seed in range(3):
        picture = 1.0 - sketch_program(domain, domain.grammar.parse(CIRCLE), 256, np.random.default_rng(seed),
                                       without_transform(TRAIN_STYLE))
        pen = read_sketch(picture, 64, frame="canvas").skeleton
        circle, box = (domain.render_text(p, 256) for p in (CIRCLE, BOX_AROUND_CIRCLE))
        on_circle, on_box = _mismatch(pen, circle), _mismatch(pen, box)
        assert on_circle < 0.03 and on_box > 3 * on_circle
        # the score is the outline score less the weighted mismatch, nothing else
        for render, mismatch in ((circle, on_circle), (box, on_box)):
            distance, _ = register(pen, distance_transform_edt(~pen).astype(np.float32), outline_of(render))
            expected = np.exp(-distance / OUTLINE_SCALE) - DIRECTION_WEIGHT * mismatch
            assert detail_outline_score(pen, render) == pytest.approx(expected, abs=1e-6)
