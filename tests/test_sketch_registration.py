"""Registration of drawings to programs: the whole-drawing turn, scale and shift are undone."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from treediff.domains import get_domain
from treediff.sketch import (TRAIN_STYLE, outline_distance, outline_of, registered_outline_distance,
                             sketch_program)
from treediff.sketch_registration import IDENTITY, MAX_ANGLE_DEG, Similarity, to_program_frame

# Three shapes spread over the canvas, so a turn moves them in different directions.
PROGRAM = "(+ (+ (Circle 3 4 4) (Quad B 5 3 2 G)) (Quad 8 C 4 2 H))"
# A steady hand: only the whole-drawing transform, no wobble, jitter, overshoot or pen lifts.
STEADY = replace(TRAIN_STYLE, wobble=(0.0, 0.0), jitter=(0.0, 0.0), overshoot=(0.0, 0.0),
                 overshoot_drift=(0.0, 0.0), pen_lift_prob=0.0)


@pytest.fixture(scope="module")
def csg():
    return get_domain("csg2d")


def _drawn(csg, program, angle, scale, offset, seed=0):
    style = replace(STEADY, rotation_deg=(angle, angle), scale=(scale, scale), offset=(offset, offset))
    return sketch_program(csg, csg.grammar.parse(program), 64, np.random.default_rng(seed), style)


@pytest.mark.parametrize("angle,scale", [(6.0, 1.04), (-7.0, 0.95)])
def test_registration_recovers_the_drawing_transform(csg, angle, scale):
    render = csg.render(csg.grammar.parse(PROGRAM), 64)
    drawing = _drawn(csg, PROGRAM, angle, scale, 0.03)
    plain = outline_distance(drawing, render)
    registered, transform = registered_outline_distance(drawing, render)
    assert abs(transform.angle_deg - angle) <= 2.0
    assert abs(transform.scale - scale) <= 0.035  # 0.035 of a 20 px radius is under a pixel
    assert 1.0 <= np.hypot(transform.dx, transform.dy) <= 3.0  # the 0.03 * 64 = 1.9 px shift
    assert registered < 0.6 * plain
    # Undoing the transform lays the drawing back on the program's outline.
    assert outline_distance(to_program_frame(drawing, transform), render) < 0.6 * plain


def test_a_drawing_on_the_grid_needs_no_correction(csg):
    render = csg.render(csg.grammar.parse(PROGRAM), 64)
    distance, transform = registered_outline_distance(outline_of(render).astype(np.float32), render)
    assert transform == IDENTITY or (abs(transform.angle_deg) < 1.0 and abs(transform.scale - 1) < 0.01
                                     and np.hypot(transform.dx, transform.dy) < 0.5)
    assert distance < 0.05
    assert to_program_frame(render, IDENTITY) is render


def test_registration_prefers_the_true_program_over_a_shifted_neighbour(csg):
    """A turned drawing: snapped shape by shape, the nearest grid program moves the outer
    shapes a digit. Compared as drawn, that neighbour fits better; registered, the truth does."""
    drawing = _drawn(csg, PROGRAM, 9.0, 1.0, 0.0)
    truth = csg.render(csg.grammar.parse(PROGRAM), 64)
    neighbour = csg.render(csg.grammar.parse("(+ (+ (Circle 3 5 3) (Quad B 5 3 2 G)) (Quad 7 C 4 2 H))"), 64)
    assert outline_distance(drawing, neighbour) < outline_distance(drawing, truth)
    assert registered_outline_distance(drawing, truth)[0] < registered_outline_distance(drawing, neighbour)[0]


def test_corrections_stay_inside_the_searched_range(csg):
    render = csg.render(csg.grammar.parse(PROGRAM), 64)
    drawing = _drawn(csg, PROGRAM, 25.0, 1.0, 0.0)  # turned far more than a hand does
    _, transform = registered_outline_distance(drawing, render)
    assert isinstance(transform, Similarity) and abs(transform.angle_deg) <= MAX_ANGLE_DEG + 1e-6


def test_empty_sides_have_no_registration(csg):
    render = csg.render(csg.grammar.parse(PROGRAM), 64)
    blank = np.zeros((64, 64), np.float32)
    assert registered_outline_distance(blank, render) == (np.inf, None)
    assert registered_outline_distance(_drawn(csg, PROGRAM, 0.0, 1.0, 0.0), blank) == (np.inf, None)
