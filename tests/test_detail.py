"""The answer of a sketch search is chosen on the drawing's pen centre line at 4x
(`preprocess.read_sketch`, `sketch.detail_outline_score`, `Searcher.ranked(detail=...)`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from treediff.data import n_site_kinds
from treediff.domains import get_domain
from treediff.model import ModelConfig, TreeDiffusionModel
from treediff.preprocess import DETAIL, preprocess_sketch, read_sketch
from treediff.search import Searcher
from treediff.sketch import (HELDOUT_STYLE, TRAIN_STYLE, detail_outline_score, outline_score, register_sketch_domain,
                             sketch_program, without_transform)

CIRCLE = "(Circle 5 8 8)"  # radius 10 canvas units: 80 px at 256


@pytest.fixture(scope="module")
def sketch_domain():
    return register_sketch_domain()


def _drawing(domain, program, seed, style=TRAIN_STYLE):
    return 1.0 - sketch_program(domain, domain.grammar.parse(program), 256, np.random.default_rng(seed), style)


def test_read_sketch_adds_a_thin_centre_line_at_four_times_the_size(sketch_domain):
    picture = _drawing(sketch_domain, CIRCLE, seed=1)
    reading = read_sketch(picture, 64, frame="canvas")
    assert np.array_equal(reading.image, preprocess_sketch(picture, 64, frame="canvas"))
    assert reading.skeleton.dtype == bool and reading.skeleton.shape == (64 * DETAIL, 64 * DETAIL)
    # one pixel wide along the circle: about its perimeter in pixels, not a band
    perimeter = 2 * math.pi * 80
    assert 0.8 * perimeter < reading.skeleton.sum() < 1.5 * perimeter
    ys, xs = np.nonzero(reading.skeleton)
    radius = np.hypot(xs + 0.5 - 128, ys + 0.5 - 128)
    assert abs(np.median(radius) - 80) < 3


def test_detail_score_tells_the_drawn_circle_from_its_neighbours(sketch_domain):
    """On the drawing without a whole-drawing transform the truth scores best at both
    resolutions, and by a wider margin on the centre line: there a digit is 16 px."""
    for seed in range(3):
        reading = read_sketch(_drawing(sketch_domain, CIRCLE, seed, without_transform(HELDOUT_STYLE)), 64,
                              frame="canvas")
        fine = {p: detail_outline_score(reading.skeleton, sketch_domain.render_text(p, 256))
                for p in (CIRCLE, "(Circle 5 9 8)", "(Circle 6 8 8)", "(Circle 4 8 8)")}
        coarse = {p: outline_score(reading.image, sketch_domain.render_text(p, 64)) for p in fine}
        assert max(fine, key=fine.get) == CIRCLE and fine[CIRCLE] > 0.85
        fine_margin = fine[CIRCLE] - max(v for p, v in fine.items() if p != CIRCLE)
        coarse_margin = coarse[CIRCLE] - max(v for p, v in coarse.items() if p != CIRCLE)
        assert fine_margin > coarse_margin > 0.0
    blank = np.zeros((256, 256), dtype=bool)
    assert detail_outline_score(blank, sketch_domain.render_text(CIRCLE, 256)) == 0.0


def test_ranked_chooses_on_the_detail_when_given(sketch_domain):
    """The search's own objective puts a neighbour first; with the drawing's centre line the
    drawn program comes first (the rerank here passes the objectives through, so the
    order is the detail score's)."""
    domain = dataclasses.replace(sketch_domain, rerank=lambda target, images, objectives: np.asarray(objectives))
    g = domain.grammar
    model = TreeDiffusionModel(ModelConfig(vocab_size=len(g.vocab), n_site_kinds=n_site_kinds(g), channels=1,
                                           image_size=64, d_model=32, n_heads=2, enc_layers=1, dec_layers=1))
    searcher = Searcher(domain, model)  # `ranked` never runs the model
    reading = read_sketch(_drawing(sketch_domain, CIRCLE, seed=2), 64, frame="canvas")
    visits = [("(Circle 5 9 8)", 0.9), (CIRCLE, 0.5), ("(Circle 4 8 8)", 0.4)]
    assert searcher.ranked(reading.image, visits, top=3)[0][0] == "(Circle 5 9 8)"
    order = [text for text, _ in searcher.ranked(reading.image, visits, top=3, detail=reading.skeleton)]
    assert order[0] == CIRCLE and sorted(order) == sorted(t for t, _ in visits)
    # a domain without a detail score ignores it
    plain = Searcher(dataclasses.replace(domain, detail_score=None), model)
    assert plain.ranked(reading.image, visits, top=3, detail=reading.skeleton)[0][0] == "(Circle 5 9 8)"


def test_plain_csg2d_has_no_detail_score():
    assert get_domain("csg2d").detail_score is None
