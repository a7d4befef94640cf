"""Registration of drawings to programs: the whole-drawing turn, scale and shift are undone."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from treediff.domains import get_domain
from treediff.sketch import (TRAIN_STYLE, outline_distance, outline_of, registered_outline_distance,
                             sketch_program)
from treediff import sketch_registration
from treediff.sketch import _stroke_distances
from treediff.sketch_registration import IDENTITY, MAX_ANGLE_DEG, Similarity, register, to_program_frame

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


def test_landing_tables_give_the_same_registrations_bit_for_bit(csg, monkeypatch):
    """The coarse grid read from the landing tables is an exact shortcut: for drawings of
    different sizes of ink and candidates near and far from them (the third has only the
    top shape, so the drawing has strokes it lacks), distance and transform are the same
    numbers as with every landing computed."""
    candidates = [PROGRAM, "(+ (Circle 3 5 3) (Quad 7 C 4 2 H))", "(Circle 3 4 4)", "(Quad 2 D 1 1 J)",
                  "(- (Circle 7 8 8) (Quad 8 8 3 3 I))"]
    outlines = [outline_of(csg.render(csg.grammar.parse(text), 64)) for text in candidates]
    drawings = [_drawn(csg, PROGRAM, 6.0, 1.04, 0.03), _drawn(csg, PROGRAM, -9.0, 0.96, 0.0, seed=1),
                _drawn(csg, "(Circle 2 C 3)", 3.0, 1.0, 0.01, seed=2)]
    with_tables, direct = [], []
    for drawing in drawings:
        strokes, to_strokes = _stroke_distances(drawing)
        sketch_registration._MEMO.clear()
        with_tables += [register(strokes, to_strokes, o) for o in outlines]
        with monkeypatch.context() as m:
            m.setattr(sketch_registration, "TABLE_MAX_PIXELS", 0)
            sketch_registration._MEMO.clear()
            direct += [register(strokes, to_strokes, o) for o in outlines]
    sketch_registration._MEMO.clear()
    assert with_tables == direct
    assert len({distance for distance, _ in direct}) == len(direct)  # the cases differ: no vacuous match
