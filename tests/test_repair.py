"""CSG2D residual repairs (renderers/csg2d_repair.py) and how search uses them."""

from __future__ import annotations

import pytest
import torch

from treediff.domains import get_domain
from treediff.model import ModelConfig, TreeDiffusionModel
from treediff.data import n_site_kinds
from treediff.renderers.csg2d_repair import csg2d_repairs, fit_shapes
from treediff.search import SearchConfig, Searcher


@pytest.fixture(scope="module")
def csg():
    return get_domain("csg2d")


def untrained_model(d) -> TreeDiffusionModel:
    torch.manual_seed(0)
    g = d.grammar
    return TreeDiffusionModel(ModelConfig(vocab_size=len(g.vocab), n_site_kinds=n_site_kinds(g), channels=d.channels,
                                          image_size=d.model_size, d_model=32, n_heads=2, enc_layers=1,
                                          dec_layers=1)).eval()


@pytest.mark.parametrize("shape, expected", [
    ("(Circle 4 8 8)", "(Circle 4 8 8)"),
    ("(Circle 3 5 B)", "(Circle 3 5 B)"),
    ("(Quad 8 6 A 4 G)", "(Quad 8 6 A 4 G)"),
    ("(Quad 7 9 A 3 I)", "(Quad 7 9 A 3 I)"),  # 90 degrees: the long side is vertical
    ("(Quad 8 8 A 3 H)", "(Quad 8 8 A 3 H)"),
])
def test_moment_fit_recovers_a_lone_shape(csg, shape, expected):
    """A shape drawn alone is read back from its image moments (up to the symmetries of
    its kind: a quad turned by 180 degrees is the same picture)."""
    region = csg.render_text(shape) > 0.5
    fitted = fit_shapes(region)
    target = csg.render_text(expected)
    assert any(csg.goal(target, csg.render_text(s))[0] for s in fitted), fitted


@pytest.mark.parametrize("picture, circles", [
    ("(Circle 6 F 8)", ["(Circle 6 F 8)"]),  # clipped by the canvas's right side
    ("(Circle 9 0 0)", ["(Circle 9 0 0)"]),  # a quarter in the corner
    ("(- (Circle 6 8 8) (Circle 4 E 8))", ["(Circle 6 8 8)", "(Circle 4 E 8)"]),  # a bite: two arcs
])
def test_circles_are_read_off_the_outline_where_moments_fail(csg, picture, circles):
    """The canvas clips a circle, or a bite takes a piece: centroid and area no longer give
    the circle, but the arcs of the outline still lie on the true circles."""
    fitted = fit_shapes(csg.render_text(picture) > 0.5)
    assert all(c in fitted for c in circles), fitted


def test_repairs_cut_a_hole_and_add_a_missing_part(csg):
    g = csg.grammar
    # A hole the render lacks: the repair cuts it out with "-".
    holed = "(- (Circle 6 8 8) (Circle 2 8 8))"
    target = csg.render_text(holed)
    current = "(Circle 6 8 8)"
    repairs = csg2d_repairs(g, current, target, csg.render_text(current))
    assert any(csg.goal(target, csg.render(r))[0] for r in repairs)
    assert all(g.unparse(r).startswith("(- (Circle 6 8 8)") for r in repairs)  # nothing is missing, only extra
    # A part the render lacks: the repair adds it with "+".
    two = "(+ (Circle 3 4 4) (Quad B B 4 6 G))"
    target = csg.render_text(two)
    current = "(Circle 3 4 4)"
    repairs = csg2d_repairs(g, current, target, csg.render_text(current))
    assert any(csg.goal(target, csg.render(r))[0] for r in repairs)


EVERYTHING = "(+ (+ (Quad 0 0 F F G) (Quad F 0 F F G)) (+ (Quad 0 F F F G) (Quad F F F F G)))"  # the whole canvas


def test_repairs_work_toward_the_ink_even_from_a_negative(csg):
    """The goal also accepts the picture's negative, but repairs always read the ink: from
    a program that draws the negative, every repair draws more of the picture itself
    (following the polarity the render matched, there was nothing to repair)."""
    from treediff.renderers.csg2d import masks_iou

    g = csg.grammar
    target = csg.render_text("(Circle 6 8 8)")
    current = f"(- {EVERYTHING} (Circle 6 8 8))"
    image = csg.render_text(current)
    assert csg.goal(target, image)[0] and masks_iou(target, image) < 0.1
    repairs = csg2d_repairs(g, current, target, image)
    before = masks_iou(target, image)
    assert repairs and all(masks_iou(target, csg.render(r)) > before for r in repairs)


def test_tidy_keeps_the_picture_not_only_the_score(csg):
    """Dropping the square leaves the circle, which the polarity-blind goal scores the same
    as everything-but-the-circle; tidy keeps the answer, since its picture would change."""
    g = csg.grammar
    target = 1.0 - csg.render_text("(Circle 6 8 8)")
    searcher = Searcher(csg, untrained_model(csg))
    answer = searcher._candidate(g.parse(f"(- {EVERYTHING} (Circle 6 8 8))"), target)
    assert csg.goal(target, csg.render_text("(Circle 6 8 8)"))[1] >= answer.score
    assert searcher.tidy(answer, target).text == answer.text


def test_nothing_to_repair_when_the_render_matches(csg):
    program = "(+ (Circle 4 8 8) (Quad 8 8 4 4 H))"
    image = csg.render_text(program)
    assert csg2d_repairs(csg.grammar, program, image, image) == []


def test_search_counts_repairs_and_the_ablation_turns_them_off(csg):
    """With an untrained policy, the repair of the start program is what finds a hole's
    answer within a small budget; without repairs the same search does not; both stay
    within the budget, which counts every repaired program."""
    g = csg.grammar
    answer = g.parse("(- (Quad 8 8 C C G) (Circle 3 8 8))")
    target = csg.render(answer)
    searcher = Searcher(csg, untrained_model(csg))
    start = [g.parse("(Quad 8 8 C C G)")]
    cfg = dict(budget=12, beam=2, edits_per_node=2, refine=False, repair_after=0, fit_start=False)
    with_repair = searcher.search(target, SearchConfig(**cfg), seed=0, init=start)
    without = searcher.search(target, SearchConfig(**cfg, repair=False), seed=0, init=start)
    assert with_repair.solved and with_repair.nodes_expanded <= 12
    assert not without.solved and without.nodes_expanded == 12


def test_repairs_wait_for_repair_after(csg):
    """Repairs finish a search: before `repair_after` programs have been tried there are none."""
    g = csg.grammar
    target = csg.render(g.parse("(- (Quad 8 8 C C G) (Circle 3 8 8))"))
    searcher = Searcher(csg, untrained_model(csg))
    start = [g.parse("(Quad 8 8 C C G)")]
    cfg = dict(budget=12, beam=2, edits_per_node=2, refine=False, fit_start=False)
    late = searcher.search(target, SearchConfig(**cfg, repair_after=100), seed=0, init=start)
    without = searcher.search(target, SearchConfig(**cfg, repair=False), seed=0, init=start)
    assert (late.program, late.nodes_expanded) == (without.program, without.nodes_expanded)


@pytest.mark.parametrize("truth, current", [
    ("(- (Quad 8 8 C 8 G) (Circle 4 8 C))", "(Quad 8 8 C 8 G)"),  # a bite: an arc inside the ink
    ("(+ (Quad 6 8 8 8 G) (Circle 4 C 8))", "(Quad 6 8 8 8 G)"),  # a bulge: an arc outside it
    ("(- (Circle 6 8 8) (Circle 2 8 8))", "(Circle 6 8 8)"),  # a hole: a closed loop inside it
    ("(- (Circle 6 8 8) (Quad 8 3 F 4 G))", "(Circle 6 8 8)"),  # a straight cut: a line across it
])
def test_sketch_repairs_read_unexplained_strokes(truth, current):
    """Against a simulated drawing, the stroke the current outline does not explain is
    fitted and cut or added by where it lies: a repair draws the true picture."""
    import numpy as np

    from treediff.renderers.csg2d_repair import csg2d_sketch_repairs

    sketch = get_domain("csg2d-sketch")
    g = sketch.grammar
    for seed in range(2):
        drawing = sketch.target_image(g.parse(truth), np.random.default_rng(seed))
        repairs = csg2d_sketch_repairs(g, current, drawing, sketch.render_text(current))
        clean = sketch.render_text(truth)
        assert any(((sketch.render(r) > 0.5) == (clean > 0.5)).mean() > 0.995 for r in repairs)


def test_answer_is_tidied_of_parts_its_picture_does_not_need(csg):
    """A start program that already draws the target, padded with a shape cut from empty
    space and a copy hidden under another: the search answers with the clean program at
    the same node count and score."""
    g = csg.grammar
    answer = "(- (Circle 6 8 8) (Quad 8 8 2 2 G))"
    padded = g.parse("(+ (- (- (Circle 6 8 8) (Quad 8 8 2 2 G)) (Circle 1 1 1)) (Circle 2 5 8))")
    target = csg.render_text(answer)
    assert csg.goal(target, csg.render(padded))[1] == 1.0
    result = Searcher(csg, untrained_model(csg)).search(target, SearchConfig(budget=10), init=[padded])
    assert result.program == answer and result.nodes_expanded == 1 and result.score == 1.0


def test_commands_start_repairs_in_the_last_quarter_of_a_small_budget():
    from treediff.search import repair_start

    assert repair_start(2000) == SearchConfig.repair_after == 1500
    assert repair_start(5000) == 1500  # counted in programs tried, as treediff bench needs
    assert repair_start(1000) == 750


@pytest.mark.parametrize("answer", [
    "(+ (Circle 3 4 4) (Quad C C 4 6 G))",
    "(+ (+ (Circle 2 3 3) (Circle 3 C 4)) (Quad 8 C 6 2 H))",
    "(- (Circle F E 5) (Circle 4 5 A))",  # a circle mostly off the canvas, with a bite
    "(- (+ (Quad 4 8 7 9 L) (Circle 5 6 2)) (Quad 7 A 9 E H))",  # overlapping shapes
])
def test_fit_chain_reads_a_picture_of_few_shapes(csg, answer):
    """A picture of a few shapes: the greedy residual fit started beside the policy's
    programs finds it within 40 programs even with an untrained policy, which alone does
    not; both searches stay within the budget."""
    target = csg.render_text(answer)
    searcher = Searcher(csg, untrained_model(csg))
    fitted = searcher.search(target, SearchConfig(budget=40), seed=0)
    without = searcher.search(target, SearchConfig(budget=40, fit_start=False), seed=0)
    assert fitted.solved and fitted.nodes_expanded <= 40
    assert not without.solved and without.nodes_expanded == 40


def test_fit_chain_counts_every_program_it_tries(csg):
    target = csg.render_text("(+ (+ (Circle 2 3 3) (Circle 3 C 4)) (Quad 8 C 6 2 H))")
    searcher = Searcher(csg, untrained_model(csg))
    for budget in (1, 3, 6):
        result = searcher.search(target, SearchConfig(budget=budget, refine=False), seed=0)
        assert result.nodes_expanded == budget


def test_fits_read_the_ink_not_the_background(csg):
    """A picture mostly covered by ink: the fits are shapes of the ink (a program that draws
    the picture), never of the background (one that draws its negative)."""
    from treediff.renderers.csg2d_repair import csg2d_fits

    g = csg.grammar
    target = csg.render_text("(+ (Circle 9 8 8) (Quad 3 3 4 4 G))")
    assert (target > 0.5).mean() > 0.5
    for node in csg2d_fits(g, target):
        render = csg.render(node) > 0.5
        assert (render & (target > 0.5)).sum() > (render & (target <= 0.5)).sum()


def test_the_answer_is_never_worse_than_the_fit(csg):
    """The fit joins the beam late and the repairs keep to the policy's best, but when the
    search ends the fit is still the answer if nothing better turned up."""
    target = csg.render_text("(- (+ (Circle 9 9 B) (Quad 1 3 1 6 M)) (- (Circle 7 7 E) (Circle 4 B 1)))")
    searcher = Searcher(csg, untrained_model(csg))
    cfg = SearchConfig(budget=400, repair_after=300)
    fit_tried: dict[str, float] = {}
    fit = searcher._fit_start(target, cfg, fit_tried)
    result = searcher.search(target, cfg, seed=0)
    assert not fit.solved and len(fit_tried) < 300 and result.nodes_expanded == 400
    assert result.score >= fit.score


def test_programs_longer_than_the_model_reads_are_searched_not_fed_to_it(csg):
    """Repairs add a shape per step and can outgrow the position embedding (256 tokens);
    such a program (here the user's --init) is still rendered, scored and repaired, and
    the networks only see the programs they can read: no index error."""
    g = csg.grammar
    long = "(Circle 1 1 1)"
    for i in range(30):
        long = f"(+ {long} (Quad {'0123456789ABCDEF'[i % 16]} 3 1 1 G))"
    searcher = Searcher(csg, untrained_model(csg))
    target = csg.render_text("(- (Circle 6 8 8) (Circle 2 8 8))")
    start = searcher._candidate(g.parse(long), target)
    assert not searcher.readable(start)
    result = searcher.search(target, SearchConfig(budget=30, fit_start=False, repair_after=0), init=[g.parse(long)])
    assert result.nodes_expanded == 30 and result.score > start.score
    assert searcher.rollout(target, 10, init=[g.parse(long)]).nodes_expanded == 10


def test_regridded_moves_the_whole_program_back_onto_the_grid():
    """A program fitted to a turned, enlarged drawing has every shape on other digits; among
    the whole-program moves is the program that was drawn, and every move keeps the
    program's structure, angles and grammar."""
    from treediff.renderers.csg2d_repair import REGRID_MAX, _moved, regridded

    g = get_domain("csg2d").grammar
    drawn = "(+ (+ (Circle 3 4 4) (Quad B 5 3 2 G)) (Quad 8 C 4 2 H))"
    for angle in (-8.0, 8.0):
        fitted = _moved(drawn, angle, 1.05, 0.0, 0.0, 64)  # where a fit to the turned drawing lands
        assert fitted != drawn
        moves = regridded(fitted)
        assert drawn in moves and fitted not in moves and len(moves) <= REGRID_MAX
        for text in moves:
            assert g.check(text)
            assert [t for t in text.split() if not t[0].isalnum()] == [t for t in fitted.split() if not t[0].isalnum()]
            assert text.count("Circle") == 1 and text.count(" G)") == 1 and text.count(" H)") == 1


def test_drawn_regions_fill_outlines_by_the_even_odd_rule():
    """A ring drawn as two loops encloses an annulus, not a disc; a crescent drawn as one
    loop encloses the crescent."""
    import numpy as np

    from treediff.renderers.csg2d_repair import csg2d_sketch_fits, drawn_regions
    from treediff.sketch import outline_of

    sketch = get_domain("csg2d-sketch")
    ring = sketch.render_text("(- (Circle 6 8 8) (Circle 3 8 8))") > 0.5
    region = drawn_regions(outline_of(ring.astype("float32")))
    assert not region[32, 32] and region[32, 32 + 18]
    crescent = sketch.render_text("(- (Circle 6 8 7) (Circle 5 B 5))") > 0.5
    region = drawn_regions(outline_of(crescent.astype("float32")))
    assert (region & crescent).sum() / (region | crescent).sum() > 0.85
    blank = np.zeros((64, 64), dtype=bool)
    assert not drawn_regions(blank).any() and csg2d_sketch_fits(sketch.grammar, blank.astype("float32")) == []


@pytest.mark.parametrize("truth", [
    "(- (Quad 8 8 A 6 H) (Circle 3 A 6))",  # a box with a bite out of it
    "(- (Circle 6 8 7) (Circle 5 B 5))",  # a crescent
])
def test_sketch_fits_read_a_shape_with_a_bite(truth):
    """From a drawing alone the sketch fits offer the shape minus the circle its concave arc
    follows, and a sketch search with an untrained policy reaches the drawn picture through
    them within 150 programs, which without them it does not."""
    import numpy as np

    from treediff.metrics import iou
    from treediff.renderers.csg2d_repair import csg2d_sketch_fits

    sketch = get_domain("csg2d-sketch")
    g = sketch.grammar
    clean = sketch.render_text(truth)
    drawing = sketch.target_image(g.parse(truth), np.random.default_rng(0))
    fits = csg2d_sketch_fits(g, drawing)
    assert max(iou(clean, sketch.render(node)) for node in fits) > 0.8
    searcher = Searcher(sketch, untrained_model(sketch))
    fitted = searcher.search(drawing, SearchConfig(budget=150), seed=0)
    without = searcher.search(drawing, SearchConfig(budget=150, fit_start=False), seed=0)
    assert iou(clean, sketch.render(fitted.node)) >= 0.9 > iou(clean, sketch.render(without.node))
    assert fitted.nodes_expanded == without.nodes_expanded == 150


def test_fit_joins_the_beam_when_asked():
    """By default the fit waits for the repairs (here never: they start after the budget)
    and is the answer only at the end; with fit_join_after=0 it becomes the best program as
    soon as it is built, so the polish and the beam work from it."""
    import numpy as np

    sketch = get_domain("csg2d-sketch")
    g = sketch.grammar
    drawing = sketch.target_image(g.parse("(- (Quad 8 8 A 6 H) (Circle 3 A 6))"), np.random.default_rng(0))
    searcher = Searcher(sketch, untrained_model(sketch))
    BUDGET = 400  # the fit, read twice, spends about 320 of it on this drawing
    late = searcher.search(drawing, SearchConfig(budget=BUDGET, rerank_top=0, tidy=False), seed=0)
    early = searcher.search(drawing, SearchConfig(budget=BUDGET, rerank_top=0, tidy=False, fit_join_after=0), seed=0)
    late_fit = [n for n, text, _ in late.trace if text == late.program]
    assert late_fit == [BUDGET]  # the held-back fit, taken at the end
    assert early.trace[-1][0] < BUDGET and early.score >= late.score


def _best_fit(truth: str) -> float:
    """The best IoU with `truth`'s picture among the sketch fits read off its clean outline
    (`csg2d_sketch_fits`, looked up on its module, so a test can take a reading away)."""
    import treediff.renderers.csg2d_repair as repair
    from treediff.metrics import iou
    from treediff.sketch import outline_of

    sketch = get_domain("csg2d-sketch")
    clean = sketch.render_text(truth)
    outline = outline_of(clean).astype("float32")
    return max(iou(clean, sketch.render(node)) for node in repair.csg2d_sketch_fits(sketch.grammar, outline))


@pytest.mark.parametrize("truth", [
    "(- (Quad 8 B 9 8 G) (Quad 6 5 E 7 N))",  # a box with a corner cut off: a pentagon
    "(- (Quad 8 8 8 8 G) (Quad B B 8 F H))",  # a box cut along its diagonal: a triangle
    "(- (Circle 7 8 8) (- (Circle 7 8 8) (Circle 6 B 8)))",  # two circles' intersection: a lens
])
def test_sketch_fits_read_straight_cuts_and_intersections(truth):
    """Shapes whose edges are cuts along a straight line (quads turn in steps of 45 degrees)
    or the arcs of two circles the region lies inside: from a clean outline alone, a fit
    draws the picture (IoU >= 0.95). Before session 17's polygon and intersection fits the
    best fit of the pentagon reached 0.80, of the lens 0.86."""
    assert _best_fit(truth) >= 0.95


@pytest.mark.parametrize("truth", [
    "(- (Circle 5 8 8) (Quad 8 5 7 5 L))",  # a circle with a quad's corner poking in
    "(- (Quad 8 9 A 8 G) (Quad 8 5 6 6 H))",  # a box with a V cut into its top
])
def test_sketch_fits_read_a_v_shaped_notch(truth, monkeypatch):
    """A quad's corner cutting into a shape leaves a V: the notch cutter at the dent's
    deepest point gives a fit at IoU >= 0.9 from a clean outline, which the straight cuts
    and arcs alone do not (0.89 and 0.79)."""
    import treediff.renderers.csg2d_repair as repair

    assert _best_fit(truth) >= 0.9
    monkeypatch.setattr(repair, "_notch_cutters", lambda region, per_digit: [])
    assert _best_fit(truth) < 0.9


@pytest.mark.parametrize("truth", [
    "(+ (Circle 4 6 8) (Quad B 9 4 3 G))",  # a box sticking out of a circle
    "(+ (Circle 4 6 8) (Quad B 9 4 3 H))",  # ... turned 45 degrees
    "(+ (Quad 6 8 4 4 G) (Circle 3 A 6))",  # a circle on a box's corner
])
def test_sketch_fits_read_a_circle_joined_to_a_box(truth, monkeypatch):
    """A union of overlapping shapes is drawn as one outline around one region. From a clean
    outline alone, the circle its outline follows joined to the box fitted to the rest draws
    the picture; read only as one shape or a shape cut, the best fit stayed under 0.9."""
    import treediff.renderers.csg2d_repair as repair

    assert _best_fit(truth) >= 0.95
    monkeypatch.setattr(repair, "_joined_to_circle", lambda region, cx, cy, r: [])
    assert _best_fit(truth) < 0.9


def test_fits_find_a_loop_with_a_wide_pen_lift_gap_and_a_shape_thinner_than_the_pen():
    """A loop whose pen lifted for 6 px encloses nothing at the usual bridge; the fits bridge
    wider until it does. A bar thinner than the pen draws no loop at all: the ink itself is
    read as the shape."""
    import numpy as np
    from scipy import ndimage

    from treediff.metrics import iou
    from treediff.renderers.csg2d_repair import _enclosed_regions, csg2d_sketch_fits, drawn_regions
    from treediff.sketch import outline_of

    sketch = get_domain("csg2d-sketch")
    box = sketch.render_text("(Quad 8 8 6 4 G)") > 0.5
    strokes = ndimage.binary_dilation(outline_of(box.astype("float32")))  # a pen 3 px wide
    strokes[30:36, 16:26] = False  # the left side lifted for 6 px
    assert not drawn_regions(strokes).any()
    region = _enclosed_regions(strokes)
    assert (region & box).sum() / (region | box).sum() > 0.75
    bar = np.zeros((64, 64), dtype="float32")
    bar[30:34, 16:48] = 1.0  # one thick stroke, no loop
    assert not drawn_regions(bar > 0.5).any()
    assert max(iou(bar, sketch.render(node)) for node in csg2d_sketch_fits(sketch.grammar, bar)) >= 0.95


def test_fits_read_a_thick_stroke_beside_a_loop_as_a_thin_shape():
    """A bar drawn as one thick stroke beside a box's outline encloses no paper, so the
    box's region is all the fits would see; the stroke outside every region is read as a
    thin quad of its own, and offered joined to the region's shapes."""
    from scipy import ndimage

    from treediff.metrics import iou
    from treediff.renderers.csg2d_repair import csg2d_sketch_fits
    from treediff.sketch import outline_of

    sketch = get_domain("csg2d-sketch")
    truth = "(+ (Quad 6 9 6 6 G) (Quad B 4 8 1 G))"  # a box and a bar clear of it
    clean = sketch.render_text(truth)
    box = sketch.render_text("(Quad 6 9 6 6 G)") > 0.5
    strokes = ndimage.binary_dilation(outline_of(box.astype("float32")))  # a pen 3 px wide
    bar = sketch.render_text("(Quad B 4 8 1 G)") > 0.5  # 4 px wide: no paper inside its loop
    drawing = (strokes | bar).astype("float32")
    fits = csg2d_sketch_fits(sketch.grammar, drawing)
    assert max(iou(clean, sketch.render(node)) for node in fits) >= 0.9


def test_fits_join_two_thin_loops_as_two_quads_not_two_circles():
    """Two bars drawn by hand as narrow loops each enclose a sliver of paper; a region's
    fits list its circles first, so joining the two regions' first fits read them as
    circles. The fits join each region's best-matching shapes: two quads."""
    import numpy as np

    from treediff.metrics import iou
    from treediff.preprocess import read_sketch
    from treediff.renderers.csg2d_repair import csg2d_sketch_fits
    from treediff.sketch import TRAIN_STYLE, sketch_program, without_transform

    sketch = get_domain("csg2d-sketch")
    truth = "(+ (Quad 4 9 2 8 G) (Quad A 3 8 2 G))"  # an upright bar and a flat one, apart
    clean = sketch.render_text(truth)
    for seed in range(3):
        drawing = sketch_program(sketch, sketch.grammar.parse(truth), 256, np.random.default_rng(seed),
                                 without_transform(TRAIN_STYLE))
        fits = csg2d_sketch_fits(sketch.grammar, read_sketch(1.0 - drawing, 64, frame="canvas").image)
        assert max(iou(clean, sketch.render(node)) for node in fits if node.prims == 2) >= 0.9


def test_best_covering_ranks_each_reading_once():
    """A circle can be read both as a region's whole shape and as an arc bounding it; the
    two best readings joined to the next region must be two different ones."""
    import numpy as np

    from treediff.renderers.csg2d_repair import _best_covering

    g = get_domain("csg2d-sketch").grammar
    yy, xx = np.mgrid[0:64, 0:64]
    region = np.hypot(xx + 0.5 - 32, yy + 0.5 - 32) <= 12  # Circle 3 8 8 at 64 px
    readings = ["(Circle 3 8 8)", "(Quad 8 8 6 6 G)", "(Circle 3 8 8)", "(Circle 2 8 8)"]
    ranked = _best_covering(g, readings, region)
    assert ranked[:2] == ["(Circle 3 8 8)", "(Quad 8 8 6 6 G)"]
    assert sorted(ranked) == sorted(set(readings))


@pytest.mark.parametrize("truth", ["(+ (- (Circle 4 5 9) (Quad 5 D 8 4 G)) (Quad C 5 4 4 H))",
                                   "(+ (- (Circle 4 5 5) (Circle 3 8 8)) (Quad B B 4 4 G))"])
def test_fits_join_a_bitten_shape_with_the_shape_beside_it(truth):
    """A region is read as a whole shape minus the circle or quad its outline bites out; when
    a second shape stands beside it, the fits join the readings that match each region best,
    bite included, not only the two regions' whole shapes."""
    import numpy as np

    from treediff.metrics import iou
    from treediff.preprocess import read_sketch
    from treediff.renderers.csg2d_repair import csg2d_sketch_fits
    from treediff.sketch import TRAIN_STYLE, sketch_program, without_transform

    sketch = get_domain("csg2d-sketch")
    clean = sketch.render_text(truth)
    for seed in (1, 2):
        drawing = sketch_program(sketch, sketch.grammar.parse(truth), 256, np.random.default_rng(seed),
                                 without_transform(TRAIN_STYLE))
        fits = csg2d_sketch_fits(sketch.grammar, read_sketch(1.0 - drawing, 64, frame="canvas").image)
        assert max(iou(clean, sketch.render(node)) for node in fits if node.prims == 3) >= 0.9


def test_pair_moves_step_two_numbers_of_one_shape(csg):
    """`_pair_moves` steps two ordered numbers of the same shape by one each (all four sign
    pairs), never numbers of two shapes, nor the quad's angle letter."""
    from treediff.data import ProgramState

    g = csg.grammar
    start = "(+ (Circle 4 8 8) (Quad 8 6 A 4 G))"
    moves = [g.unparse(node) for node in Searcher(csg, untrained_model(csg))._pair_moves(ProgramState(g, g.parse(start)))]
    assert len(moves) == len(set(moves)) == 3 * 4 + 6 * 4  # circle: 3 pairs, quad: 6 pairs of its 4 numbers
    before = start.replace("(", " ").replace(")", " ").split()
    for text in moves:
        after = text.replace("(", " ").replace(")", " ").split()
        changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
        assert len(changed) == 2 and all(abs(int(before[i], 16) - int(after[i], 16)) == 1 for i in changed)
        assert all(i < 5 for i in changed) or all(i > 5 for i in changed)  # both in the circle, or both in the quad


def test_pair_polish_reaches_what_one_number_at_a_time_cannot():
    """Against the outline of a large circle the canvas clips, a circle one digit too big
    and one digit too high scores worse after either single step back than as it is; the
    polish one number at a time settles elsewhere, with pair moves it reaches the drawn one."""
    import numpy as np

    from treediff.sketch import outline_of

    sketch = get_domain("csg2d-sketch")
    g = sketch.grammar
    searcher = Searcher(sketch, untrained_model(sketch))
    target = outline_of(sketch.render_text("(Circle 9 8 F)")).astype(np.float32)
    start = searcher._candidate(g.parse("(Circle A 8 E)"), target)
    single = searcher.refine(start, target, {}, 1000, 80, lambda c: None)
    paired = searcher.refine(start, target, {}, 1000, 80, lambda c: None, pairs=True)
    assert single.text != "(Circle 9 8 F)" and paired.text == "(Circle 9 8 F)"
    assert paired.objective > single.objective


def test_refits_read_the_drawing_again_in_the_best_fits_frame():
    """A box and a circle drawn turned 8 degrees: read as the drawing lies, the fits end
    short of IoU 0.9 (a turned box fits the grid's boxes only roughly); read again in the
    frame the goal registers the best fit with (`Domain.registered`), they find both
    shapes. Only the fit's programs differ: the budget and the policy are the same.
    (Until session 22 the example was two boxes turned 7 degrees and scaled 6 %; the fits
    now join each region's best reading and find those without reading again.)"""
    import numpy as np

    from treediff.metrics import iou
    from treediff.sketch import outline_of
    from treediff.sketch_registration import Similarity, to_program_frame

    sketch = get_domain("csg2d-sketch")
    truth = "(+ (Quad 5 5 4 4 G) (Circle 2 B B))"
    clean = sketch.render_text(truth)
    drawing = outline_of(to_program_frame(clean, Similarity(angle_deg=-8.0, scale=1.0))).astype(np.float32)
    searcher = Searcher(sketch, untrained_model(sketch))
    cfg = dict(budget=400, rerank_top=0, repair_after=10_000)  # no repairs but the fit's own
    once = searcher.search(drawing, SearchConfig(refits=0, **cfg), seed=0)
    again = searcher.search(drawing, SearchConfig(refits=1, **cfg), seed=0)
    assert iou(clean, sketch.render(once.node)) < 0.9 <= iou(clean, sketch.render(again.node))
    assert once.nodes_expanded == again.nodes_expanded == 400
