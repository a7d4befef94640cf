"""Drawings on ruled and squared paper read as on plain paper (`treediff.ruled_lines`)."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy.ndimage import binary_dilation

from treediff.errors import TreediffError
from treediff.preprocess import looks_like_sketch, read_sketch
from treediff.ruled_lines import _is_family, without_ruled_lines

PAPER = (250, 248, 240)
MID_BLUE = (120, 160, 215)  # dark enough to pass the ink threshold (a pale blue does not)
PEN = (30, 30, 60)
W, H = 640, 480
CIRCLE = (180, 120, 360, 300)
BOX = (380, 150, 540, 330)  # its bottom side lies on the ruled line at y = 328


def _page(lines=MID_BLUE, grid=False, turn=0.0, drawing=True):
    """A phone-photo-like page: ruled every 32 px (squared with `grid`), a circle and a box
    drawn in pen, the whole page turned by `turn` degrees, slightly blurred."""
    im = Image.new("RGB", (W, H), PAPER)
    d = ImageDraw.Draw(im)
    for y in range(40, H, 32):
        d.line((0, y, W, y), fill=lines, width=2)
    if grid:
        for x in range(16, W, 32):
            d.line((x, 0, x, H), fill=lines, width=2)
    if drawing:
        d.ellipse(CIRCLE, outline=PEN, width=4)
        d.rectangle(BOX, outline=PEN, width=4)
    if turn:
        im = im.rotate(turn, resample=Image.BICUBIC, fillcolor=PAPER)
    return np.asarray(im.filter(ImageFilter.GaussianBlur(0.8))).astype(np.float32) / 255.0


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The smaller share of either reading's ink within a pixel of the other's."""
    a, b = a > 0.5, b > 0.5
    return float(min((a & binary_dilation(b)).sum() / a.sum(), (b & binary_dilation(a)).sum() / b.sum()))


@pytest.mark.parametrize("grid,turn", [(False, 0.0), (True, 0.0), (False, 5.0), (True, -4.0)])
def test_a_drawing_on_ruled_or_squared_paper_reads_as_on_plain_paper(grid, turn):
    plain = read_sketch(_page(lines=PAPER, turn=turn), 64).image
    ruled = read_sketch(_page(grid=grid, turn=turn), 64).image
    assert _agreement(plain, ruled) > 0.97
    assert ruled.sum() < 1.2 * plain.sum()  # no printed line left as ink


def test_the_lines_would_be_read_as_strokes_without_the_removal(monkeypatch):
    import treediff.preprocess as preprocess

    plain = read_sketch(_page(lines=PAPER), 64).image
    monkeypatch.setattr(preprocess, "without_ruled_lines", lambda mask, *args: mask)
    kept = read_sketch(_page(), 64).image
    assert _agreement(plain, kept) < 0.5


def test_a_stroke_drawn_along_a_printed_line_stays():
    """The box's bottom side lies on a ruled line: the pen is darker than the print, so it
    stays, and the box is read closed."""
    reading = read_sketch(_page(), 64, frame="canvas").skeleton
    side = reading.shape[0] / W  # the canvas is the picture, padded to a square
    top = (W - H) / 2 * side
    row = int(round(top + 328 * side))
    cols = slice(int(BOX[0] * side) + 4, int(BOX[2] * side) - 4)
    covered = reading[row - 3:row + 4, cols].any(axis=0)
    assert covered.mean() > 0.95


def test_long_parallel_drawn_lines_are_not_a_page():
    """Two bars across the picture (four long parallel sides, unevenly spaced) and a box
    are a drawing: nothing is erased."""
    mask = np.zeros((400, 500), dtype=bool)
    for y in (60, 80, 200, 214):
        mask[y:y + 3, 20:480] = True
    mask[300:303, 100:300] = True
    assert without_ruled_lines(mask) is mask


def test_family_needs_enough_evenly_spaced_thin_lines():
    def lines(centres, thickness=2):
        return [(c, c + thickness - 1) for c in centres]

    assert _is_family(lines([10, 42, 74, 106, 138]))
    assert _is_family(lines([10, 42, 74, 138, 170, 202]))  # one line missed: one double gap
    assert not _is_family(lines([10, 42, 74, 106]))  # too few
    assert not _is_family(lines([10, 20, 60, 75, 150]))  # uneven
    assert not _is_family(lines([10, 14, 18, 22, 26]))  # strips of a filled shape, not lines
    assert not _is_family(lines([10, 42, 74, 106, 138], thickness=12))  # bands, not printed lines


def test_a_filled_render_is_not_ruled_paper():
    """The columns of a filled shape run across the picture side by side; none is erased,
    and the render is still no sketch (a case that was, before the gap had to be wide)."""
    from treediff.domains import get_domain
    from treediff.preprocess import looks_like_sketch

    csg = get_domain("csg2d")
    image = csg.render(csg.grammar.parse("(+ (Quad 6 E 4 F G) (Circle 7 0 E))"), 128)
    mask = image > 0.5
    assert without_ruled_lines(mask) is mask
    assert not looks_like_sketch(image) and not looks_like_sketch(1.0 - image)


def test_a_blank_ruled_page_is_no_drawing():
    with pytest.raises(TreediffError, match="no drawing found"):
        read_sketch(_page(drawing=False), 64)


def test_a_drawing_on_squared_paper_switches_to_sketch_mode(monkeypatch):
    """`solve`'s automatic switch: the grid's lines reach the border, which a filled render's
    slivers do and a drawing's strokes do not; without their removal the page is no sketch."""
    import treediff.preprocess as preprocess

    page = _page(grid=True, turn=3.0)
    assert preprocess.looks_like_sketch(page)
    monkeypatch.setattr(preprocess, "without_ruled_lines", lambda mask, *args: mask)
    assert not preprocess.looks_like_sketch(page)


RED = (200, 40, 40)


def _margin_page(margins=(80,), turn=0.0, lines=MID_BLUE, box=BOX, grid=False, pad=60):
    """A ruled page with a red margin (one line or a pair) running its whole height, larger
    than the frame by `pad` all round so that the turned page still fills it, as a photo of
    a notebook does (squared with `grid`)."""
    im = Image.new("RGB", (W + 2 * pad, H + 2 * pad), PAPER)
    d = ImageDraw.Draw(im)
    for y in range(8, H + 2 * pad, 32):
        d.line((0, y, W + 2 * pad, y), fill=lines, width=2)
    for x in range(8, W + 2 * pad, 32) if grid else ():
        d.line((x, 0, x, H + 2 * pad), fill=lines, width=2)
    for x in margins:
        d.line((x + pad, 0, x + pad, H + 2 * pad), fill=RED, width=3)
    d.ellipse(tuple(v + pad for v in CIRCLE), outline=PEN, width=4)
    d.rectangle(tuple(v + pad for v in box), outline=PEN, width=4)
    im = im.rotate(turn, resample=Image.BICUBIC, fillcolor=PAPER).crop((pad, pad, pad + W, pad + H))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(0.8))).astype(np.float32) / 255.0


@pytest.mark.parametrize("margins,turn", [((80,), 0.0), ((80, 88), -5.0), ((560,), 4.0)])
def test_the_margin_of_a_ruled_page_goes_with_its_lines(margins, turn, monkeypatch):
    """A red margin is as dark as a blue pen, and no family: it is erased because it runs
    across the rules from edge to edge and ends in no corner."""
    import treediff.ruled_lines as ruled_lines

    plain = read_sketch(_margin_page(margins=(), turn=turn, lines=PAPER), 64).image
    ruled = read_sketch(_margin_page(margins=margins, turn=turn), 64).image
    assert _agreement(plain, ruled) > 0.97
    monkeypatch.setattr(ruled_lines, "MAX_MARGIN_LINES", 0)
    assert _agreement(plain, read_sketch(_margin_page(margins=margins, turn=turn), 64).image) < 0.9


@pytest.mark.parametrize("box,margins", [((100, 8, 300, H - 8), ()), ((100, 2, 300, H - 2), ()),
                                         ((80, 100, 300, 300), (80,))])
def test_a_drawn_side_across_the_rules_is_no_margin(box, margins):
    """A box as tall as the page (a tight crop) has sides that run across the rules nearly
    from edge to edge, but they end in corners; a side traced along the margin is darker
    than the print. Both stay."""
    plain = read_sketch(_margin_page(margins=(), lines=PAPER, box=box), 64).image
    ruled = read_sketch(_margin_page(margins=margins, box=box), 64).image
    assert _agreement(plain, ruled) > 0.97


@pytest.mark.parametrize("kind,turn", [("ruled", 25.0), ("ruled", 120.0), ("squared", -35.0), ("squared", 45.0),
                                       ("margin", 20.0), ("margin", 45.0)])
def test_a_page_turned_any_amount_reads_as_on_plain_paper(kind, turn):
    """A notebook photographed turned by more than 12 degrees: its lines were not looked for
    and stayed as strokes (agreement about 0.3). Now lines at any turn are read, across the
    picture or down it; at 45 degrees both ways find one family, and squared paper's second
    is looked for past the first (`_family_band`'s `taken`)."""
    page = {"ruled": dict(margins=()), "squared": dict(margins=(), grid=True), "margin": dict(margins=(80, 88))}[kind]
    plain = read_sketch(_margin_page(margins=(), turn=turn, lines=PAPER, pad=420), 64).image
    ruled = read_sketch(_margin_page(turn=turn, pad=420, **page), 64).image
    assert _agreement(plain, ruled) > 0.97
    assert ruled.sum() < 1.2 * plain.sum()


def _photo(page: np.ndarray) -> np.ndarray:
    """`page` as an 8-bit photo at twice its size (1,280 x 960)."""
    return np.asarray(Image.fromarray((page * 255).astype(np.uint8)).resize((2 * W, 2 * H), Image.Resampling.BICUBIC))


def test_solve_switches_for_a_large_photo_of_a_turned_squared_page(tmp_path, capsys):
    """`solve` judged the switch on the photo already shrunk to the working size; shrunk
    again, each time keeping the darkest pixels, a squared page's lines came out so thick
    that a page turned 20 degrees or more looked filled, and was solved as a filled picture."""
    from treediff.cli import main

    path = tmp_path / "notebook.png"
    Image.fromarray(_photo(_margin_page(margins=(), turn=30.0, grid=True, pad=420))).save(path)
    code = main(["solve", str(path), "--budget", "8", "--json", "--quiet", "--out", str(tmp_path / "out")])
    assert code == 0
    assert "switching to sketch mode" in capsys.readouterr().err


def test_an_8_bit_photo_reads_as_its_float_copy():
    """`read_sketch` and `looks_like_sketch` shrink an 8-bit photo before converting it to
    float (converting a 12 MP photo first took 0.9 s, shrinking it 0.02 s): the same reading."""
    from treediff.preprocess import looks_like_sketch

    photo = _photo(_page(grid=True, turn=3.0))
    as_float = photo.astype(np.float32) / 255.0
    eight, flt = read_sketch(photo, 64), read_sketch(as_float, 64)
    assert np.array_equal(eight.image, flt.image) and np.array_equal(eight.skeleton, flt.skeleton)
    assert looks_like_sketch(photo) and looks_like_sketch(as_float)



def _notebook_photo(grid: bool, fill: float, lines=MID_BLUE, frame=(2400, 1800), portrait: bool = False,
                    desk=(70, 50, 40), top: float = 1.0) -> np.ndarray:
    """A phone photo of a whole A4 notebook page (lying sideways, or upright with
    `portrait`), squared or ruled every 5 mm in lines 0.25 mm wide, a circle and a box drawn
    with a 0.6 mm pen; at `fill` < 1 of the frame's width (its height, upright), on `desk`;
    with `top` < 1, photographed from below (the frame's top edge `top` times as wide)."""
    width, height = frame
    mm = fill * (height / 297.0 if portrait else width / 297.0)  # pixels per millimetre
    pw, ph = round(297 * mm), round(210 * mm)
    if portrait:
        pw, ph = ph, pw
    im = Image.new("RGB", (pw, ph), PAPER)
    d = ImageDraw.Draw(im)
    line, pen, step = max(1, round(0.25 * mm)), round(0.6 * mm), 5 * mm
    for k in range(1, int(ph / step) + 1):
        d.line((0, k * step, pw, k * step), fill=lines, width=line)
    for k in range(1, int(pw / step) + 1) if grid else ():
        d.line((k * step, 0, k * step, ph), fill=lines, width=line)
    r = 0.22 * min(pw, ph)
    d.ellipse((0.28 * pw, 0.5 * ph - r, 0.28 * pw + 2 * r, 0.5 * ph + r), outline=PEN, width=pen)
    d.rectangle((0.55 * pw, 0.3 * ph, 0.75 * pw, 0.7 * ph), outline=PEN, width=pen)
    photo = Image.new("RGB", frame, desk if fill < 1 else PAPER)
    photo.paste(im, ((width - pw) // 2, (height - ph) // 2))
    if top < 1.0:
        photo = _from_below(photo, top, desk)
    return np.asarray(photo.filter(ImageFilter.GaussianBlur(1.0)))


def _from_below(picture: Image.Image, top: float, fill, size: tuple[int, int] | None = None) -> Image.Image:
    """`picture` photographed from below, into a frame of `size` (default: its own): the
    frame's top edge shows `top` times as much as its bottom; `fill` where nothing is seen."""
    width, height = size or picture.size
    inset = (1.0 - top) / 2.0 * width
    rows = []
    for (x, y), (u, v) in zip([(inset, 0), (width - inset, 0), (width, height), (0, height)],
                              [(0, 0), (width, 0), (width, height), (0, height)]):
        rows += [([x, y, 1, 0, 0, 0, -u * x, -u * y], u), ([0, 0, 0, x, y, 1, -v * x, -v * y], v)]
    coefficients = np.linalg.solve(np.array([r for r, _ in rows], float), np.array([b for _, b in rows], float))
    return picture.transform((width, height), Image.PERSPECTIVE, tuple(coefficients), Image.BICUBIC, fillcolor=fill)


def _reads_as_on_plain_paper(grid: bool, fill: float, **kind) -> float:
    """Agreement of the reading of `_notebook_photo(grid, fill, **kind)` with the reading of
    the same photo without printed lines."""
    plain = read_sketch(_notebook_photo(grid, fill, lines=PAPER, **kind), 64).image
    return _agreement(plain, read_sketch(_notebook_photo(grid, fill, **kind), 64).image)


@pytest.mark.parametrize("grid,fill", [(True, 1.0), (True, 0.85), (False, 0.85)])
def test_a_phone_photo_of_a_whole_notebook_page_reads_as_on_plain_paper(grid, fill):
    """Shrunk to the 512 px working size, the lines of a page squared or ruled every 5 mm
    lie 7-9 px apart and 2 px wide. The local threshold kept only pieces of them (where
    blank paper or the desk was near), too broken to be read as lines, and 2 px in 7
    failed the lines' thinness test: the pieces stayed as strokes."""
    assert _reads_as_on_plain_paper(grid, fill) > 0.95


@pytest.mark.parametrize("grid", [True, False])
def test_a_phone_photo_of_a_whole_notebook_page_switches_to_sketch_mode(grid):
    """At the 256 px the switch judges at, 5 mm lines lie 3-4 px apart: the page looked
    filled. A larger picture not taken for a drawing is judged again at 512 px."""
    from treediff.preprocess import looks_like_sketch

    assert looks_like_sketch(_notebook_photo(grid, 1.0))


@pytest.mark.parametrize("grid,top", [(True, 0.85), (False, 0.9)])
def test_a_page_filling_the_frame_seen_from_below_switches_to_sketch_mode(grid, top):
    """Seen from below, a page filling the frame shows the desk only in the frame's top
    corners, wedges down its sides: no sheet lies inside the picture, and over the whole
    frame the desk touches the border, as the slivers of a filled render do, so the page
    stayed in picture mode. Judged on the paper, with its printed lines found, it is a
    drawing; no render has printed lines (none of 3,936 render decisions changed)."""
    from treediff.preprocess import looks_like_sketch

    assert looks_like_sketch(_notebook_photo(grid, 1.0, top=top))


@pytest.mark.parametrize("grid", [True, False])
def test_a_page_filling_the_frame_seen_a_little_from_below_is_a_sheet(grid):
    """With the top edge at 92 % of the bottom's, the desk shows as two wedges narrowing down
    the frame's sides, 4 % of the width at the top. Blurred, they came out lighter than half
    the paper, too light for a desk that does not go all round the sheet: the page stayed in
    picture mode, and the sheet's slanted edges were read as strokes (agreement 0.87, with the
    plain page read no better). The desk is now judged as it is, not blurred."""
    photo = _notebook_photo(grid, 1.0, top=0.92)
    assert looks_like_sketch(photo)
    strokes = read_sketch(photo, 64).image
    assert _agreement(read_sketch(_notebook_photo(grid, 1.0, lines=PAPER), 64).image, strokes) > 0.95


@pytest.mark.parametrize("grid,desk,top", [(True, (70, 50, 40), 1.0), (False, (150, 150, 150), 1.0),
                                           (True, (150, 150, 150), 0.85)])
def test_an_upright_page_filling_a_landscape_photos_height_is_a_sheet_on_the_desk(grid, desk, top):
    """An upright page photographed in a landscape frame fills its height: the desk shows
    at its sides, and above and below it only in strips a pixel or two high at 256 px. The
    sheet counted only with the desk all round, so the page was judged with the desk as
    ink (no switch), and on a grey desk seen from below the desk's edges were read as
    strokes. A sheet the photo cuts at two opposite sides is now a sheet when the desk
    shows at both others."""
    from treediff.preprocess import looks_like_sketch

    photo = _notebook_photo(grid, 0.97, frame=(2400, 1800), portrait=True, desk=desk, top=top)
    plain = _notebook_photo(grid, 0.97, lines=PAPER, frame=(2400, 1800), portrait=True, desk=desk, top=top)
    assert _agreement(read_sketch(plain, 64).image, read_sketch(photo, 64).image) > 0.95
    assert looks_like_sketch(photo)


@pytest.mark.parametrize("top", [0.85, 0.92])
def test_a_whole_squared_page_photographed_from_below_reads_as_on_plain_paper(top):
    """Seen from below, a squared page's lines across stay level but crowd towards its top,
    and the ones down converge. Read by the global threshold, the lines down fill a third of
    every strip between the lines across, and a strip that inked was not "paper beside" a
    line: only bunches of the lines across were found, and the rest stayed as strokes
    along the page's edges (agreement 0.2). Beside a line inked all along, a strip under
    0.4 as inked is paper now."""
    assert _reads_as_on_plain_paper(True, 0.85, top=top) > 0.95


@pytest.mark.parametrize("top", [0.85, 0.9])
def test_a_ruled_page_filling_the_frame_seen_from_below_reads_as_on_plain_paper(top):
    """Seen from below, a ruled page's lines stay level but crowd towards its top (8 px
    apart there, 9.5 at the bottom at 512 px). The places an evenly spaced family puts its
    lines at drifted half a gap off them, and the pieces of lines the local threshold broke
    beside the drawing stayed as strokes (agreement 0.25). The places now follow the
    crowding."""
    assert _reads_as_on_plain_paper(False, 1.0, top=top) > 0.95


def test_crowded_places_follow_lines_closing_up_and_leave_even_ones_alone():
    """`_crowded_places` unit: lines 7.5 px apart at one end and 9.5 at the other, with
    lines missing (three gaps in a row where they are closest), get places on every line,
    found or missed; evenly spaced lines keep `_spacing`'s even places."""
    from treediff.ruled_lines import _crowded_places, _distance_to_places, _spacing

    k = np.arange(40.0)
    truth = 20.0 + 7.5 * k + 0.025 * k ** 2
    found = np.delete(truth, [6, 7, 12, 20])
    crowded = _crowded_places(found, *_spacing(found))
    assert crowded is not None
    assert float(_distance_to_places(truth, crowded, 5.0).max()) < 0.5
    even = 20.0 + 8.5 * np.delete(k, [6, 7, 12, 20])
    assert _crowded_places(even, *_spacing(even)) is None


def test_pieces_of_lines_broken_beside_a_stroke_go_with_the_lines():
    """`without_ruled_lines` unit: two lines of a ruled page broken beside a drawn stroke,
    only their pieces next to it left and joined to it, are no lines and were kept with the
    stroke. Ink at every place the family puts a line goes where it is thin; the stroke
    crossing the lines and a filled box across them stay."""
    from treediff.ruled_lines import without_ruled_lines

    mask = np.zeros((128, 128), dtype=bool)
    for y in range(6, 128, 8):
        mask[y:y + 2, :] = True
    for y in (38, 46):
        mask[y:y + 2, 20:118] = False
        mask[y:y + 2, 40:60] = True
    mask[20:80, 58:61] = True  # the drawn stroke
    mask[88:118, 80:110] = True  # a filled box
    out = without_ruled_lines(mask)
    assert not out[38:40, 40:57].any() and not out[46:48, 40:57].any()
    assert out[20:80, 59].sum() >= 55
    assert out[92:114, 84:106].all()


@pytest.mark.parametrize("portrait,frame", [(False, (2400, 1800)), (True, (4000, 3000))])
def test_a_ruled_page_on_a_desk_seen_from_below_reads_as_on_plain_paper(portrait, frame):
    """Near the drawing the local threshold breaks the lines, and the pieces left beside
    the strokes join them: they stayed as strokes (agreement 0.2-0.5)."""
    kw = dict(portrait=portrait, frame=frame, top=0.92)
    assert _reads_as_on_plain_paper(False, 0.85, **kw) > 0.95


@pytest.mark.parametrize("grid,fill,portrait", [(True, 0.85, True), (True, 0.97, True), (True, 0.85, False),
                                                (False, 0.85, True)])
def test_a_page_on_a_desk_in_a_large_photo_is_read_at_the_working_size(grid, fill, portrait):
    """A page upright in a 4000 x 3000 frame, seen from below, covers a third of it: shrunk
    with the frame to 512 px, its 5 mm lines lay 5 px apart and 2 px wide, too dense to be
    found, and pieces of them stayed as strokes (agreement 0.19-0.41). The sheet is now cut
    out of the full photo and read alone at 512 px."""
    kw = dict(portrait=portrait, frame=(4000, 3000), top=0.85)
    assert _reads_as_on_plain_paper(grid, fill, **kw) > 0.95


@pytest.mark.parametrize("fill,top", [(0.97, 0.92), (0.85, 0.85)])
def test_a_squared_page_on_a_grey_desk_in_a_large_photo_is_a_sheet(fill, top):
    """Shrunk keeping each block's darkest pixel, a page squared every 5 mm upright in a
    4000 x 3000 frame is mostly lines: the paper's median was their colour, and a grey desk
    no darker than 80 % of it was no desk. The photo stayed in picture mode, and at 97 % of
    the frame's height the desk's strips were read as strokes (agreement 0.24)."""
    kw = dict(portrait=True, frame=(4000, 3000), top=top, desk=(150, 150, 150))
    assert looks_like_sketch(_notebook_photo(True, fill, **kw))
    assert _reads_as_on_plain_paper(True, fill, **kw) > 0.95


def test_paper_beside_a_line_may_be_crossed_by_the_other_family():
    """`_lines` unit: a line inked all along with strips a third inked beside it is a line;
    a run barely over the coverage with such strips beside it (inside a filled shape) is not."""
    from treediff.ruled_lines import _lines

    chords = np.full(40, 100.0)
    share = np.full(40, 0.32)
    share[18:20] = 1.0
    assert _lines(share * chords, chords, 100) == [(18, 19)]
    share[18:20] = 0.7
    assert _lines(share * chords, chords, 100) == []


def test_dense_crossing_families_are_not_the_same_lines():
    """`_same_lines` unit: the bands of 2 px lines 7 px apart are 5 px wide (the line and
    1.5 px either side), so two crossing families shared 25 of every 49 pixels, over half
    of either band: the lines down were taken for the lines across found again."""
    from treediff.ruled_lines import _same_lines

    rows = (np.arange(126) % 7 < 5)[:, None] & np.ones((1, 126), dtype=bool)
    assert not _same_lines(rows, rows.T)
    assert _same_lines(rows, rows)
    assert _same_lines(rows, np.roll(rows, 1, axis=0))  # the same lines found a pixel off


def test_a_whole_squared_page_upright_in_a_phone_photo_loses_both_families():
    """A 12 MP photo of an upright squared page filling a landscape frame's height: both
    families of lines must go. With only the lines across found, a piece of the lines down
    stayed at a corner of the sheet, and the crop to the ink shrank the drawing (agreement 0.2)."""
    kind = dict(portrait=True, frame=(4032, 3024), desk=(150, 150, 150))
    assert _reads_as_on_plain_paper(True, 0.97, **kind) > 0.95
