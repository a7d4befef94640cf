"""Drawings on ruled and squared paper read as on plain paper (`treediff.ruled_lines`)."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy.ndimage import binary_dilation

from treediff.errors import TreediffError
from treediff.preprocess import read_sketch
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
