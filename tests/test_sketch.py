"""Sketch mode: simulator, photo degradation, preprocessing, detection, outline goal, domain."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from PIL import Image

from treediff.domains import get_domain
from treediff.errors import TreediffError
from treediff.preprocess import load_sketch, looks_like_sketch, preprocess_sketch
from treediff.sketch import (HELDOUT_STYLE, SCORE_MEASURE, SKETCH_DOMAIN, TRAIN_STYLE, drawable_programs,
                             outline_distance, outline_goal, outline_of, photographed, reaches_margin,
                             register_sketch_domain, sketch_program, without_transform)
from treediff.verifier import shipped_rerank

# Shapes fully inside the canvas, as people draw them: a rotated square minus a circle, a
# union of a circle and a bar, and a plain circle.
PROGRAMS = ["(- (Quad 8 8 5 5 H) (Circle 3 9 7))", "(+ (Circle 4 6 8) (Quad A 9 3 2 G))", "(Circle 6 8 8)"]


@pytest.fixture(scope="module")
def csg():
    return get_domain("csg2d")


def _sketch(csg, program, seed, size=64, style=TRAIN_STYLE):
    return sketch_program(csg, csg.grammar.parse(program), size, np.random.default_rng(seed), style)


def test_simulator_is_deterministic_per_seed_and_in_range(csg):
    a = _sketch(csg, PROGRAMS[0], 7)
    b = _sketch(csg, PROGRAMS[0], 7)
    c = _sketch(csg, PROGRAMS[0], 8)
    assert a.shape == (64, 64) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0 and a.max() > 0.5
    assert 0.0 < (a > 0.3).mean() < 0.25  # an outline, not a filled shape
    assert _sketch(csg, PROGRAMS[0], 7, size=96).shape == (96, 96)


@pytest.mark.parametrize("program", PROGRAMS)
def test_strokes_lie_near_the_true_outline(csg, program):
    clean = csg.render(csg.grammar.parse(program), 64)
    boundary = outline_of(clean)
    from scipy.ndimage import distance_transform_edt

    to_boundary = distance_transform_edt(~boundary)
    for seed in range(3):
        strokes = _sketch(csg, program, seed) > 0.3
        assert to_boundary[strokes].mean() < 1.5  # pixels; strokes follow the outline
        assert outline_distance(_sketch(csg, program, seed), clean) < 1.0  # canvas units, both directions


def test_heldout_style_is_wilder(csg):
    clean = [csg.render(csg.grammar.parse(p), 64) for p in PROGRAMS]
    train = [outline_distance(_sketch(csg, p, s), c) for p, c in zip(PROGRAMS, clean) for s in range(4)]
    held = [outline_distance(_sketch(csg, p, s, style=HELDOUT_STYLE), c) for p, c in zip(PROGRAMS, clean)
            for s in range(4)]
    assert np.mean(held) > np.mean(train)
    assert HELDOUT_STYLE.rotation_deg[1] > TRAIN_STYLE.rotation_deg[1]


def test_without_transform_keeps_the_drawing_on_the_grid(csg):
    # The same random numbers make the same strokes; only the whole drawing's turn, scale and
    # shift go, so the untransformed drawings lie closer to the program as drawn.
    plain = without_transform(HELDOUT_STYLE)
    assert plain.wobble == HELDOUT_STYLE.wobble and plain.stroke_width == HELDOUT_STYLE.stroke_width
    clean = [csg.render(csg.grammar.parse(p), 64) for p in PROGRAMS]
    held = [outline_distance(_sketch(csg, p, s, style=HELDOUT_STYLE), c) for p, c in zip(PROGRAMS, clean)
            for s in range(4)]
    kept = [outline_distance(_sketch(csg, p, s, style=plain), c) for p, c in zip(PROGRAMS, clean) for s in range(4)]
    assert np.mean(kept) < np.mean(held)


def test_photographed_is_an_rgb_photo(csg):
    drawing = _sketch(csg, PROGRAMS[0], 1, size=128)
    photo = photographed(drawing, np.random.default_rng(3))
    assert photo.shape == (128, 128, 3) and photo.dtype == np.float32
    assert 0.0 <= photo.min() and photo.max() <= 1.0
    assert np.array_equal(photo, photographed(drawing, np.random.default_rng(3)))
    ink = drawing > 0.5
    assert photo[ink].mean() < photo[~ink].mean() - 0.2  # dark ink on light paper


def _photo_variants(drawing, seed):
    """(name, picture) pairs: a photo, light-on-dark, a strong lighting gradient, orange paper."""
    photo = photographed(drawing, np.random.default_rng(seed))
    ramp = np.linspace(0.55, 1.0, drawing.shape[1], dtype=np.float32)[None, :, None]
    orange = np.array([1.0, 0.8, 0.45], dtype=np.float32)
    return [("photo", photo), ("light-on-dark", 1.0 - photo), ("gradient", photo * ramp),
            ("orange paper", photo * orange)]


@pytest.mark.parametrize("program", PROGRAMS[:2])
def test_preprocessing_recovers_the_drawn_outline(csg, program):
    drawing = _sketch(csg, program, 5, size=192, style=HELDOUT_STYLE)
    reference = np.asarray(Image.fromarray((drawing * 255).astype(np.uint8)).resize((64, 64), Image.Resampling.BOX),
                           dtype=np.float32) / 255.0
    clean = csg.render(csg.grammar.parse(program), 64)
    for name, picture in _photo_variants(drawing, 11):
        got = preprocess_sketch(picture, 64, frame="canvas")
        assert got.shape == (64, 64) and got.dtype == np.float32 and got.max() <= 1.0
        assert outline_distance(got, clean) < 1.5, name
        assert _overlap(got, reference) > 0.9, name  # the drawing itself, within a pixel


def test_bbox_frame_centres_and_scales_the_drawing(csg):
    drawing = _sketch(csg, "(Circle 3 5 5)", 2, size=192)  # small, off-centre
    got = preprocess_sketch(photographed(drawing, np.random.default_rng(0)), 64, frame="bbox")
    rows, cols = np.nonzero(got > 0.3)
    extent = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    assert abs(extent - 0.75 * 64) <= 4
    assert abs((rows.max() + rows.min()) / 2 - 31.5) <= 3 and abs((cols.max() + cols.min()) / 2 - 31.5) <= 3


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """The smaller of the two fractions of ink lying within a pixel of the other's ink."""
    from scipy.ndimage import binary_dilation

    a, b = a > 0.3, b > 0.3
    return min((a & binary_dilation(b)).sum() / a.sum(), (b & binary_dilation(a)).sum() / b.sum())


def test_sheet_edge_and_table_are_not_strokes(csg):
    photo = photographed(_sketch(csg, PROGRAMS[0], 1, size=192), np.random.default_rng(2))
    table = np.empty((240, 240, 3), np.float32)
    table[:] = (0.25, 0.2, 0.15)
    table[24:216, 40:232] = photo  # the sheet lies off-centre on a dark table
    assert _overlap(preprocess_sketch(table, 64), preprocess_sketch(photo, 64)) > 0.9


def test_a_marker_line_along_the_border_is_drawing_not_a_table():
    """A box drawn in black marker whose top side runs along the picture's edge: blurred for
    the table check, the thick line stayed dark and was taken for a table around the sheet,
    and the whole drawing was cut away with it ("no drawing found")."""
    from PIL import ImageDraw

    sheet = Image.new("L", (256, 256), 255)
    ImageDraw.Draw(sheet).rectangle([50, 2, 140, 150], outline=0, width=10)
    got = preprocess_sketch(np.asarray(sheet), 64, frame="canvas")
    assert (got > 0.3).sum() > 100  # the box's four sides
    assert got[:4].max() > 0.5 and got[36:40].max() > 0.5  # its top side and its bottom side


def test_a_turned_sheet_on_a_slightly_darker_table_leaves_no_strokes(csg):
    """The sheet photographed turned 7 degrees on a table only 20 % darker than the paper
    (too light for `_sheet`): the corners of table in the frame leave short pieces of ink
    along the border, which must not count as drawing. Framed to the drawing (`bbox`), the
    reading is then the same as for the sheet turned on a table of its own colour."""
    import io

    from treediff.preprocess import _as_rgb, _ink_mask, _ink_strength

    def turned(paper_darkening: float) -> np.ndarray:
        photo = Image.fromarray((photographed(_sketch(csg, PROGRAMS[0], 1, size=256), np.random.default_rng(1))
                                 * 255).astype(np.uint8))
        corner = np.asarray(photo)[:8, :8].reshape(-1, 3).mean(axis=0) * (1.0 - paper_darkening)
        photo = photo.rotate(7.0, fillcolor=tuple(int(c) for c in corner), resample=Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=50)
        return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255.0

    on_table = turned(0.2)
    ink = _ink_mask(_ink_strength(_as_rgb(on_table)))
    assert np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]]).any()  # the table's edge reads as ink
    assert _overlap(preprocess_sketch(on_table, 64), preprocess_sketch(turned(0.0), 64)) > 0.9


def _pen_drawing(side: int, width: int) -> Image.Image:
    """A circle crossed by a slanted line, drawn with a `width`-pixel pen on a sheet `side` wide."""
    from PIL import ImageDraw

    sheet = Image.new("RGB", (side, side * 3 // 4), "white")
    pen = ImageDraw.Draw(sheet)
    r = side / 5
    pen.ellipse([side / 2 - r, side * 3 / 8 - r, side / 2 + r, side * 3 / 8 + r], outline="black", width=width)
    pen.line([(side * 0.2, side * 0.1), (side * 0.8, side * 0.65)], fill="black", width=width)
    return sheet


@pytest.mark.parametrize("side,width", [(400, 1), (800, 1), (1200, 2), (2000, 3)])
def test_fine_pen_lines_survive_in_a_large_picture(tmp_path, side, width):
    """A 1-pixel mouse line, or a fine pen in a big scan, is thinner than the picture's
    reduction to the working size; an area average left it faint and broken, and the
    speck removal (also 4-connected: a diagonal line touches itself only at corners)
    then dropped its pieces. It must read as the same unbroken drawing as a thick pen."""
    from scipy.ndimage import label

    from treediff.preprocess import load_photo, read_sketch

    _pen_drawing(side, width).save(tmp_path / "fine.png")
    _pen_drawing(400, 6).save(tmp_path / "thick.png")
    fine = read_sketch(load_photo(tmp_path / "fine.png"), 64)
    assert _overlap(fine.image, load_sketch(tmp_path / "thick.png", 64)) > 0.9
    assert label(fine.skeleton, structure=np.ones((3, 3)))[1] == 1  # one unbroken line


@pytest.mark.parametrize("pen", [(240, 220, 40), (205, 205, 205), (215, 215, 215)])
@pytest.mark.parametrize("noisy", [False, True])
def test_a_faint_pen_reads_like_a_dark_one(pen, noisy):
    """A yellow marker or a light pencil darkens the paper by 16-20 %: above the ink floor
    (MIN_CONTRAST), so the switch took it for a sketch, but under the fifth Sauvola's local
    test asks for, so reading it gave "no drawing found" or broken strokes."""
    import io

    from PIL import ImageDraw

    from treediff.preprocess import read_sketch

    def drawn(colour):
        sheet = Image.new("RGB", (640, 480), "white")
        ImageDraw.Draw(sheet).ellipse((180, 120, 360, 300), outline=colour, width=4)
        ImageDraw.Draw(sheet).rectangle((380, 150, 540, 330), outline=colour, width=4)
        if not noisy:
            return np.asarray(sheet)
        grain = np.random.default_rng(0).normal(0.0, 10.0, (480, 640, 3))
        jpeg = io.BytesIO()
        Image.fromarray(np.clip(np.asarray(sheet) + grain, 0, 255).astype(np.uint8)).save(jpeg, "JPEG", quality=60)
        return np.asarray(Image.open(jpeg))

    faint = drawn(pen)
    assert looks_like_sketch(faint)
    assert _overlap(read_sketch(faint, 64).image, read_sketch(drawn("black"), 64).image) > 0.95


def test_a_picture_a_few_pixels_thin_is_shrunk_to_one_row_not_to_nothing():
    from treediff.preprocess import _limit_side

    strip = np.full((3, 3000, 3), 255, np.uint8)
    strip[1, 100:2900] = 0
    shrunk = _limit_side(strip, 512)
    assert shrunk.shape == (1, 512, 3) and shrunk.min() == 0.0 and shrunk.max() == 1.0  # line and paper
    assert _limit_side(np.full((3000, 1, 3), 255, np.uint8), 512).shape == (512, 1, 3)


def test_looks_like_sketch(csg):
    for i, program in enumerate(PROGRAMS):
        drawing = _sketch(csg, program, i, size=128)
        clean = csg.render(csg.grammar.parse(program), 128)
        assert looks_like_sketch(photographed(drawing, np.random.default_rng(i)))
        assert looks_like_sketch(1.0 - drawing)  # a clean scan, dark on white
        assert not looks_like_sketch(clean)  # renders: filled shapes, either polarity
        assert not looks_like_sketch(1.0 - clean)
    assert not looks_like_sketch(np.zeros((64, 64, 3), dtype=np.float32))


def test_outline_score_prefers_the_right_program(csg):
    parse = csg.grammar.parse
    right = PROGRAMS[0]
    near_miss = "(- (Quad 8 8 5 5 G) (Circle 3 9 7))"  # the square not rotated
    wrong = ["(Quad 8 8 5 5 H)", "(- (Quad 9 8 5 5 H) (Circle 3 9 7))", "(Circle 6 8 8)"]
    for seed in range(3):
        for style in (TRAIN_STYLE, HELDOUT_STYLE):
            sketch = _sketch(csg, right, seed, style=style)
            solved, score = outline_goal(sketch, csg.render(parse(right), 64))
            assert 0.0 <= score <= 1.0
            assert outline_goal(sketch, csg.render(parse(near_miss), 64))[1] < score
            for other in wrong:
                other_solved, other_score = outline_goal(sketch, csg.render(parse(other), 64))
                assert other_score < score and not other_solved, other
        assert outline_goal(_sketch(csg, right, seed), csg.render(parse(right), 64))[0]
    assert outline_goal(sketch, np.zeros((64, 64), np.float32)) == (False, 0.0)
    # A filled picture given as the target is compared by its outline: a render solves itself.
    clean = csg.render(parse(right), 64)
    solved, score = outline_goal(clean, clean)
    assert solved and score > 0.85  # not exactly 1: anti-aliased edge pixels of a thin region count as ink
    assert not outline_goal(clean, csg.render(parse(wrong[1]), 64))[0]
    assert outline_goal.measure == SCORE_MEASURE == "registered-outline-chamfer"


def test_choice_passes_over_programs_that_reach_the_margin(csg):
    """No drawable program reaches the canvas's margin, so the sketch answer is chosen among
    programs that do not, whatever the objective and the verifier prefer, even when they
    rank below the shortlist's cut; when every program reaches it, the usual order stands."""
    from treediff.search import Searcher
    from test_tree_diffusion import tiny_model

    domain = register_sketch_domain()
    assert domain.undrawable is reaches_margin
    assert not any(reaches_margin(csg.render_text(t)) for t in drawable_programs(csg, 8, seed=5))
    inside, outside = "(Quad 2 8 2 3 G)", "(Quad 1 8 2 3 G)"  # a box, and the same box a digit further left
    assert not reaches_margin(csg.render_text(inside)) and reaches_margin(csg.render_text(outside))
    drawing = _sketch(csg, outside, seed=0)  # drawn where the outer box is: everything prefers it
    assert shipped_rerank(drawing, [csg.render_text(t) for t in (outside, inside)], [0.8, 0.7]).argmax() == 0
    searcher = Searcher(domain, tiny_model("csg2d"))
    # the outer box and four more programs reaching the margin score best; the inner box is 6th
    crowd = [outside] + [f"(Quad 1 8 2 {h} G)" for h in "4567"]
    visits = [(t, 0.9 - 0.01 * k) for k, t in enumerate(crowd)] + [(inside, 0.5)]
    assert [t for t, _ in searcher.ranked(drawing, visits, top=3)][0] == inside
    only_out = [(t, o) for t, o in visits if t != inside]
    plain = dataclasses.replace(domain, undrawable=None)
    assert (Searcher(plain, searcher.model).ranked(drawing, only_out, top=3)
            == searcher.ranked(drawing, only_out, top=3))


def test_sketch_domain_registration_and_training_hook(csg):
    domain = register_sketch_domain()
    assert register_sketch_domain() is domain
    assert get_domain(SKETCH_DOMAIN) is domain
    assert domain.grammar.hash == csg.grammar.hash
    node = domain.grammar.parse(PROGRAMS[1])
    assert np.array_equal(domain.render(node, 64), csg.render(node, 64))  # candidates render clean
    a = domain.target_image(node, random.Random(4), 64)
    b = domain.target_image(node, random.Random(4), 64)
    assert a.shape == (64, 64) and np.array_equal(a, b)
    assert domain.goal(a, domain.render(node, 64))[1] > 0.7
    assert domain.describe()["score_measure"] == "registered-outline-chamfer"


def test_bad_inputs_give_one_line_errors(tmp_path, csg):
    rng = np.random.default_rng(0)
    blank_paper = photographed(np.zeros((128, 128), np.float32), rng)  # a photo with no drawing on it
    cases = [blank_paper, np.zeros((64, 64, 3), np.float32), np.ones((64, 64), np.float32),
             csg.render(csg.grammar.parse("(Circle F 8 8)"), 64)]  # filled: all ink once inverted
    for picture in cases:
        with pytest.raises(TreediffError) as err:
            preprocess_sketch(picture, 64)
        assert "\n" not in str(err.value)
    with pytest.raises(TreediffError, match="megapixels"):
        preprocess_sketch(np.broadcast_to(np.float32(1.0), (8000, 8000)), 64)
    huge = tmp_path / "huge.png"
    Image.new("L", (8000, 7000), 255).save(huge)
    with pytest.raises(TreediffError, match="megapixels"):
        load_sketch(huge)
    with pytest.raises(TreediffError, match="not found"):
        load_sketch(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(TreediffError, match="cannot read"):
        load_sketch(tmp_path / "junk.png")
    with pytest.raises(TreediffError, match="frame"):
        preprocess_sketch(np.ones((8, 8)), 64, frame="page")


def test_load_sketch_reads_a_jpeg(tmp_path, csg):
    drawing = _sketch(csg, PROGRAMS[2], 3, size=256)
    path = tmp_path / "drawing.jpg"
    Image.fromarray((photographed(drawing, np.random.default_rng(1)) * 255).astype(np.uint8)).save(path, quality=60)
    got = load_sketch(path, 64, frame="canvas")
    assert outline_distance(got, csg.render(csg.grammar.parse(PROGRAMS[2]), 64)) < 1.5


def test_sketch_search_keeps_improving_after_the_goal_is_met(csg):
    """A drawing is met by many programs: sketch search spends its budget on the best score,
    while CSG2D search (exact goal) stops at the first program that meets it."""
    import torch

    from treediff.data import n_site_kinds
    from treediff.model import ModelConfig, TreeDiffusionModel
    from treediff.search import SearchConfig, Searcher

    sketch_domain = register_sketch_domain()
    assert csg.stop_at_goal and not sketch_domain.stop_at_goal
    g = csg.grammar
    torch.manual_seed(0)
    model = TreeDiffusionModel(ModelConfig(vocab_size=len(g.vocab), n_site_kinds=n_site_kinds(g), channels=1,
                                           image_size=64, d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                           ff_mult=1)).eval()
    right = g.parse(PROGRAMS[2])
    # The circle with a small bite out of its rim: meets the outline goal, not the best score.
    start = g.parse("(- (Circle 6 8 8) (Circle 1 2 8))")
    sketch = _sketch(csg, PROGRAMS[2], seed=0)
    first_solved, first_score = sketch_domain.goal(sketch, csg.render(start, 64))
    assert first_solved
    cfg = SearchConfig(budget=40, beam=4, n_init=1)
    result = Searcher(sketch_domain, model).search(sketch, cfg, seed=0, init=[start])
    assert result.nodes_expanded == 40 and result.solved and result.score > first_score
    exact = Searcher(csg, model).search(csg.render(right, 64), cfg, seed=0, init=[right])
    assert exact.solved and exact.nodes_expanded == 1


def test_solve_command_on_a_drawing(tmp_path, csg, capsys):
    """`treediff solve drawing.png` notices the outline drawing, switches to the shipped sketch
    model, spends its budget and writes the comparison; `--sketch` says so explicitly."""
    import json

    from treediff.cli import main

    drawing = _sketch(csg, PROGRAMS[0], seed=3, size=256)
    path = tmp_path / "drawing.png"
    Image.fromarray(((1.0 - drawing) * 255).astype(np.uint8)).save(path)  # dark pen on white paper
    for flags in ([], ["--sketch"]):
        out = tmp_path / f"out{len(flags)}"
        code = main(["solve", str(path), "--budget", "12", "--json", "--quiet", "--out", str(out), *flags])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        report = json.loads(captured.out)
        assert report["domain"] == SKETCH_DOMAIN and report["score_measure"] == "registered-outline-chamfer"
        assert report["nodes_expanded"] == 12  # no early stop in sketch mode
        assert set(report["registration"]) == {"angle_deg", "scale", "dx", "dy"}
        assert abs(report["registration"]["angle_deg"]) <= 11.0
        assert csg.grammar.check(report["program"])
        assert (out / "program.txt").read_text().strip() == report["program"]
        # compare.png: the drawing, the answer and the answer's outline in red over the
        # drawing, at the centre line's 256 px
        compare = np.asarray(Image.open(out / "compare.png").convert("RGB")).astype(int)
        assert compare.shape[0] == 256 and compare.shape[1] > 3 * 256
        red = (compare[..., 0] > 180) & (compare[..., 1] < 60) & (compare[..., 2] < 60)
        assert red[:, 2 * 256:].sum() > 100 and not red[:, :256].any()
        assert ("switching to sketch mode" in captured.err) == (not flags)
        assert "outline distance and direction on the drawing's centre line at 256 px" in report["chosen_by"]
        assert "margin" in report["chosen_by"] and "wobble" in report["chosen_by"]


def test_choice_weighs_the_centre_line_over_a_small_verifier_preference(csg):
    """Development-3031 drawing #29 (held-out style) shows the quad `(Quad 7 D C 1 G)` (the
    program's cut misses it). The verifier prefers the quad one digit to the right by about
    0.4 logits, the drawing's centre line prefers the meant quad by about 0.005. Between near
    neighbours the centre-line score moves that little, so the choice weighs it 150 logits
    per unit (at 50 the neighbour won; docs/models.md, "The objective's weight in the
    choice")."""
    import sys
    from pathlib import Path

    from treediff.preprocess import read_sketch
    from treediff.search import Searcher
    from test_tree_diffusion import tiny_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from sketch_rate import DRAW_SIZE, SPLIT_SEEDS, benchmark_programs

    domain = register_sketch_domain()
    seed, offset = SPLIT_SEEDS["development-3031"]
    meant, neighbour = "(Quad 7 D C 1 G)", "(Quad 8 D C 1 G)"
    target = benchmark_programs(domain, 64, seed)[29]
    assert np.array_equal(csg.render_text(target), csg.render_text(meant))
    drawing = sketch_program(domain, domain.grammar.parse(target), DRAW_SIZE,
                             np.random.default_rng(offset + 10_000 + 29), HELDOUT_STYLE)
    reading = read_sketch(1.0 - drawing, 64, frame="canvas")
    searcher = Searcher(domain, tiny_model("csg2d"))
    visits = [(neighbour, 0.9), (meant, 0.8)]  # the search's own score prefers the neighbour too
    texts = [t for t, _ in visits]
    verdict = shipped_rerank(reading.image.astype(np.float32), [csg.render_text(t) for t in texts], [0.0, 0.0])
    assert verdict[0] > verdict[1]  # the verifier alone picks the neighbour
    assert [t for t, _ in searcher.ranked(reading.image, visits, top=2, detail=reading.skeleton)][0] == meant


@pytest.mark.parametrize("program,traced", [
    ("(- (Circle 3 6 6) (- (Circle 3 6 6) (Circle 3 6 7)))", True),  # a circle cut to its lens with a copy
    ("(+ (Circle 4 7 6) (Circle 4 7 5))", True),  # a circle joined to its copy a digit higher
    ("(+ (Quad 8 8 6 4 G) (Quad 8 8 6 5 G))", True),  # a box joined to its copy a digit taller
    ("(+ (Quad 4 4 2 2 G) (+ (Quad C C 3 3 G) (Quad 4 5 2 2 G)))", False),  # copies, a big box between them
    ("(- (Circle 5 8 8) (Circle 5 9 8))", False),  # a thin crescent: a meaning, not a trace
    ("(+ (Quad 8 8 4 4 G) (Quad 8 8 4 4 H))", False),  # a square and its turn by 45 degrees: a star
    ("(- (Circle 6 A 7) (- (Circle 6 A 7) (Circle C 0 E)))", False),  # the lens of two other circles
    ("(+ (Circle 3 6 6) (Circle 3 8 6))", False),  # a copy two digits away
    ("(Circle 3 6 6)", False),
])
def test_a_shape_joined_or_cut_with_its_copy_a_digit_away_traces_the_wobble(csg, program, traced):
    from treediff.sketch import traces_wobble

    domain = register_sketch_domain()
    assert domain.wobble_trace is traces_wobble
    assert traces_wobble(csg.grammar, csg.grammar.parse(program), lambda n: csg.render(n, 64)) is traced


def test_choice_passes_over_a_lens_that_traces_a_circle_drawn_flat_on_top(csg):
    """Test drawing 12 of the sketch benchmark (held-out style) shows `(Circle 3 6 6)` a
    little flat on top. The lens the circle shares with its copy a digit lower fits that
    better on the centre line, by more than its two extra primitives cost, and the verifier
    rates it higher too, so the choice answered the lens (IoU 0.79 with the circle). A shape
    and its near copy trace the hand's wobble (`sketch.traces_wobble`): the lens now goes
    behind the other programs, and the circle is chosen."""
    import sys
    from pathlib import Path

    from treediff.preprocess import read_sketch
    from treediff.search import Searcher
    from test_tree_diffusion import tiny_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from sketch_rate import DRAW_SIZE, SPLIT_SEEDS, benchmark_programs

    domain = register_sketch_domain()
    seed, offset = SPLIT_SEEDS["test"]
    circle, lens = "(Circle 3 6 6)", "(- (Circle 3 6 6) (- (Circle 3 6 6) (Circle 3 6 7)))"
    assert benchmark_programs(domain, 64, seed)[12] == circle
    drawing = sketch_program(domain, domain.grammar.parse(circle), DRAW_SIZE,
                             np.random.default_rng(offset + 10_000 + 12), HELDOUT_STYLE)
    reading = read_sketch(1.0 - drawing, 64, frame="canvas")
    visits = [(circle, 0.785), (lens, 0.773)]  # the search's own scores: the circle is ahead
    searcher = Searcher(domain, tiny_model("csg2d"))
    assert [t for t, _ in searcher.ranked(reading.image, visits, top=2, detail=reading.skeleton)][0] == circle
    untraced = Searcher(dataclasses.replace(domain, wobble_trace=None), searcher.model)
    assert [t for t, _ in untraced.ranked(reading.image, visits, top=2, detail=reading.skeleton)][0] == lens


# What `examples/sketch.png` draws, and the command that made it (README, docs/sketches.md).
EXAMPLE_SKETCH = "(- (Quad 8 8 9 6 G) (Circle 5 E 4))"
EXAMPLE_COMMAND = ["render", "--photo", EXAMPLE_SKETCH, "--seed", "1"]


def test_render_draws_a_program_as_a_seeded_sketch_or_photo(tmp_path, capsys):
    """`treediff render --sketch` draws the program by hand (the held-out style), dark ink on
    white; `--photo` photographs that drawing. One seed, one drawing; a colour domain is
    refused with one line."""
    from treediff.cli import main
    from treediff.preprocess import load_photo

    program = EXAMPLE_SKETCH
    paths = {}
    for name, flags in [("a", ["--sketch", "--seed", "4"]), ("b", ["--sketch", "--seed", "4"]),
                        ("c", ["--sketch", "--seed", "5"]), ("photo", ["--photo", "--seed", "4"])]:
        paths[name] = tmp_path / f"{name}.png"
        assert main(["render", program, "-o", str(paths[name]), *flags]) == 0
    a, c = (np.asarray(Image.open(paths[k])) for k in "ac")
    assert a.shape == (256, 256) and a[0, 0] == 255 and a.min() < 100  # white paper, dark ink
    assert np.array_equal(a, np.asarray(Image.open(paths["b"]))) and not np.array_equal(a, c)
    photo = np.asarray(Image.open(paths["photo"]))
    assert photo.shape == (256, 256, 3)
    assert looks_like_sketch(load_photo(paths["a"])) and looks_like_sketch(load_photo(paths["photo"]))
    capsys.readouterr()
    assert main(["render", "--domain", "tinysvg", "--sketch", "(Rect 1 5 white yellow 1)",
                 "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "colour" in err


def test_the_shipped_example_sketch_is_solved(tmp_path, csg, capsys):
    """`examples/sketch.png`, a photographed drawing the simulator made, is what its command
    makes (up to JPEG decoders), and `treediff solve` on it, with no flag, switches to sketch
    mode and returns a program that draws the meant picture: IoU >= 0.9 with the program it
    was drawn from, framed as solve frames a photo (cropped to the drawing)."""
    import json
    import sys
    from pathlib import Path

    from treediff.cli import main

    root = Path(__file__).resolve().parents[1]
    example = root / "examples" / "sketch.png"
    remade = tmp_path / "remade.png"
    assert main([*EXAMPLE_COMMAND, "-o", str(remade)]) == 0
    shipped, fresh = (np.asarray(Image.open(p), dtype=np.float32) for p in (example, remade))
    assert shipped.shape == fresh.shape and np.abs(shipped - fresh).mean() < 2.0
    capsys.readouterr()
    assert main(["solve", str(example), "--seed", "0", "--json", "--quiet", "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "switching to sketch mode" in captured.err
    report = json.loads(captured.out)
    sys.path.insert(0, str(root / "benchmarks"))
    from sketch_rate import framed_target
    from treediff.metrics import iou

    domain = register_sketch_domain()
    meant = framed_target(domain, domain.grammar.parse(EXAMPLE_SKETCH), 64, "bbox")
    assert iou(meant, domain.render(domain.grammar.parse(report["program"]), 64)) >= 0.9, report["program"]


def test_solve_answers_a_circle_joined_to_a_box_drawn_as_one_outline(tmp_path, csg, capsys):
    """A circle and a box joined, drawn cleanly as the one outline their union has, at sizes
    off the program grid as a person draws them (an 800 x 600 picture, a 5 px pen):
    `treediff solve` answers a circle joined to a quad, labelled solved (its outline within
    about half a unit of the strokes once registered). It answered one box (score 0.65)
    until the sketch fits offered the circle the outline follows joined to a box fitted to
    the rest (`csg2d_repair._joined_to_circle`)."""
    import json
    import re

    from PIL import ImageDraw
    from scipy.ndimage import binary_erosion

    from treediff.cli import main

    region = Image.new("L", (800, 600), 0)
    draw = ImageDraw.Draw(region)
    draw.ellipse((200, 150, 440, 390), fill=255)
    draw.rectangle((360, 200, 600, 420), fill=255)
    inside = np.asarray(region) > 0
    path = tmp_path / "joined.png"
    Image.fromarray(np.where(inside & ~binary_erosion(inside, iterations=5), 40, 250).astype(np.uint8)).save(path)
    assert main(["solve", str(path), "--seed", "0", "--json", "--quiet", "--out", str(tmp_path / "out")]) == 0
    report = json.loads(capsys.readouterr().out)
    joined = r"\(\+ (\(Circle [^()]*\) \(Quad [^()]*\)|\(Quad [^()]*\) \(Circle [^()]*\))\)"
    assert report["solved"] and re.fullmatch(joined, report["program"]), report["program"]
