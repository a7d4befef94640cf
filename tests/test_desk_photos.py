"""A sheet photographed on a dark desk, filling under half of the frame, is read like the
sheet alone; the polarity test still inverts chalk and renders (`preprocess._light_ink`)."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from test_ruled_lines import MID_BLUE, PAPER, H, W, _agreement, _from_below, _page
from treediff.preprocess import _light_ink, looks_like_sketch, read_sketch

DESK = (70, 50, 40)


def _on_desk(page: np.ndarray, scale: int = 1, colour=DESK, turn: float = 4.0) -> np.ndarray:
    """The page on a desk twice its size (a quarter of the frame), off-centre, turned `turn`
    degrees, photographed at `scale` times the page's own resolution."""
    desk = Image.new("RGB", (2 * W, 2 * H), colour)
    desk.paste(Image.fromarray((page * 255).astype(np.uint8)), (W // 2 + 40, H // 2 - 30))
    desk = desk.rotate(turn, resample=Image.BICUBIC, fillcolor=colour)
    if scale > 1:  # a large photo goes through the working-size reduction
        desk = desk.resize((desk.width * scale, desk.height * scale), Image.Resampling.BICUBIC)
    return np.asarray(desk)


@pytest.mark.parametrize("lines,grid,scale", [(PAPER, False, 1), (MID_BLUE, True, 1), (PAPER, False, 3),
                                              (MID_BLUE, True, 2)])
def test_a_sheet_on_a_desk_reads_as_the_sheet(lines, grid, scale):
    """The desk is most of the picture, so its median pixel is dark: read by the median
    alone, the desk was the paper and the sheet's edge a box around an inverted drawing."""
    alone = read_sketch(_page(lines=PAPER), 64).image
    assert _agreement(alone, read_sketch(_on_desk(_page(lines=lines, grid=grid), scale), 64).image) > 0.97


def _grey(picture: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(picture).convert("L"), dtype=np.float32) / 255.0


def test_light_ink_is_still_chalk_and_white_shapes():
    board = Image.new("L", (400, 300), 40)
    ImageDraw.Draw(board).ellipse((100, 60, 300, 260), outline=230, width=5)
    assert _light_ink(np.asarray(board, dtype=np.float32) / 255.0)  # chalk: thin bright strokes
    shapes = np.zeros((256, 256), np.float32)
    shapes[40:200, 30:140] = 1.0  # a white box on black, nothing drawn on it
    assert _light_ink(shapes)
    ring = shapes.copy()
    ring[80:160, 60:110] = 0.0  # a hole cut out of it is no pen line
    assert _light_ink(ring)
    assert not _light_ink(_grey(_on_desk(_page(grid=True))))  # a sheet with a drawing on a desk


@pytest.mark.parametrize("margins,scale", [((80, 88), 1), ((560,), 1), ((560,), 2)])
def test_a_margin_on_a_sheet_on_a_desk_goes(margins, scale):
    """On the desk the margin is measured across the sheet: it reaches the sheet's edges."""
    from test_ruled_lines import _margin_page

    without = read_sketch(_on_desk(_margin_page(margins=()), scale), 64).image
    assert _agreement(without, read_sketch(_on_desk(_margin_page(margins=margins), scale), 64).image) > 0.97


@pytest.mark.parametrize("lines,grid,scale", [(PAPER, False, 1), (MID_BLUE, True, 2)])
def test_the_automatic_switch_looks_past_the_desk(lines, grid, scale, monkeypatch):
    """Measured over the whole frame, the sheet is a filled shape on the desk and its edge
    the ink; measured on the sheet (`_sheet`, `_desk_sheet`), the drawing is a sketch."""
    import treediff.preprocess as preprocess

    photo = _on_desk(_page(lines=lines, grid=grid), scale)
    assert preprocess.looks_like_sketch(photo)
    monkeypatch.setattr(preprocess, "_sheet", lambda grey, framed=False: None)
    assert not preprocess.looks_like_sketch(photo)


def test_a_render_is_rarely_a_sheet_on_a_desk():
    """Bright shapes on black are a sheet only as one rectangle clear of every edge."""
    from treediff.preprocess import _desk_sheet

    sheet = _grey(_on_desk(_page(lines=PAPER)))
    assert _desk_sheet(sheet) is not None
    disc = Image.new("L", (256, 256), 0)
    ImageDraw.Draw(disc).ellipse((40, 40, 200, 200), fill=255)
    assert _desk_sheet(np.asarray(disc, dtype=np.float32) / 255.0) is None  # round
    box = np.zeros((256, 256), np.float32)
    box[0:180, 30:140] = 1.0
    assert _desk_sheet(box) is None  # reaches the edge
    box[0:40] = 0.0
    box[80:84, 60:100] = 0.0
    assert _desk_sheet(box) is not None  # the case `looks_like_sketch` cannot tell from a sheet


@pytest.mark.parametrize("grey", [110, 150, 190])
@pytest.mark.parametrize("kind", [dict(lines=PAPER), dict(), dict(grid=True)])
def test_a_sheet_on_a_mid_tone_desk_reads_as_the_sheet(grey, kind, monkeypatch):
    """Desks of 0.44-0.76 of the paper's brightness (wood, a grey table): the sheet is found
    by the step at its edge. Before, only a desk under half as bright was one, and a sheet
    on a lighter desk was read over the whole frame: its edge a box, a ruled page's lines
    strokes (agreement 0.3)."""
    import treediff.preprocess as preprocess

    alone = read_sketch(_page(lines=PAPER), 64).image
    photo = _on_desk(_page(**kind), colour=(grey, grey, grey))
    assert _agreement(alone, read_sketch(photo, 64).image) > 0.97
    assert preprocess.looks_like_sketch(photo)
    if "lines" not in kind:  # the lines of a ruled or squared page need the sheet
        monkeypatch.setattr(preprocess, "DESK_CONTRAST", 0.4)
        assert _agreement(alone, read_sketch(photo, 64).image) < 0.9


def test_a_lighting_gradient_is_no_desk():
    """A corner darkened as much as a desk, but gradually, is still paper."""
    from treediff.preprocess import _sheet

    ramp = np.linspace(0.4, 1.0, W, dtype=np.float32)[None, :, None]
    assert _sheet(_grey(((_page() * ramp) * 255).astype(np.uint8))) is None
    assert _sheet(_grey(_on_desk(_page(), colour=(150, 150, 150)))) is not None


@pytest.mark.parametrize("exposure", [0.5, 0.3])
def test_a_dim_photo_reads_like_a_bright_one(exposure):
    """Paper photographed in dim light is darker than mid-grey: judged by the median alone,
    the paper was taken for a board with chalk on it and the reading inverted (agreement
    0.05-0.1, or "no drawing found")."""
    alone = read_sketch(_page(lines=PAPER), 64).image
    for kind in (dict(lines=PAPER), dict(grid=True)):
        assert _agreement(alone, read_sketch(_page(**kind) * exposure, 64).image) > 0.97


@pytest.mark.parametrize("darkness", [0.6, 0.7])
def test_a_shadow_across_the_page_is_no_desk(darkness, monkeypatch):
    """A hard shadow over the left of the page (and the circle) meets the paper at a step,
    as a desk does, but does not go all round a rectangular sheet: the strokes in it stay."""
    import treediff.preprocess as preprocess
    from scipy.ndimage import gaussian_filter

    alone = read_sketch(_page(lines=PAPER), 64).image
    shade = gaussian_filter(np.where(np.arange(W) < 250, darkness, 1.0).astype(np.float32) * np.ones((H, 1)), 2)
    shadowed = _page() * shade[..., None]
    assert _agreement(alone, read_sketch(shadowed, 64).image) > 0.97
    monkeypatch.setattr(preprocess, "DARK_DESK", preprocess.DESK_CONTRAST)  # any step a desk
    assert _agreement(alone, read_sketch(shadowed, 64).image) < 0.5


def _seen_from_below(page: np.ndarray, top: float, desk=DESK) -> np.ndarray:
    """The page photographed at an angle: its top edge `top` times as wide as its bottom."""
    seen = _from_below(Image.fromarray((page * 255).astype(np.uint8)), top, desk, (W, H))
    return np.asarray(seen, dtype=np.float32) / 255.0


def test_a_sheet_seen_at_an_angle_still_switches():
    """A photo taken from below the sheet shows it as a trapezoid (top 80% of the bottom's
    width), which fills 90% of its enclosing rectangle: still a sheet on the desk."""
    assert looks_like_sketch(_on_desk(_seen_from_below(_page(lines=PAPER), 0.8)))


@pytest.mark.parametrize("top", [0.9, 0.8])
def test_squared_paper_seen_at_an_angle_reads_as_plain(top, monkeypatch):
    """Seen from below, the page's upright lines converge: no five of them are parallel,
    so no family is found at one turn (`ruled_lines._converging_family` finds each at its
    own), and they were left as strokes crossing the drawing."""
    import treediff.ruled_lines as ruled_lines

    plain = read_sketch(_on_desk(_seen_from_below(_page(lines=PAPER), top)), 64).image
    photo = _on_desk(_seen_from_below(_page(grid=True), top))
    assert _agreement(plain, read_sketch(photo, 64).image) > 0.95
    monkeypatch.setattr(ruled_lines, "_converging_family", lambda mask, scans: None)
    assert _agreement(plain, read_sketch(photo, 64).image) < 0.95


@pytest.mark.parametrize("kind,desk,exposure,top", [
    (dict(margins=(80, 88)), DESK, 1.0, 0.85),
    (dict(margins=(), grid=True), (150, 150, 150), 1.0, 0.85),
    (dict(margins=()), (150, 150, 150), 0.5, 1.0),
])
def test_a_page_turned_on_a_desk_and_seen_at_an_angle(kind, desk, exposure, top):
    """Turned 4 degrees on the page and 4 more on the desk, so the lines lie 8 degrees off
    (further at the sides when seen at an angle), on a dark or grey desk, in dim light or
    not: read like the plain page, and the switch to sketch mode made."""
    from test_ruled_lines import _margin_page

    def photo(page):
        return (_on_desk(_seen_from_below(page, top, desk), colour=desk) * exposure).astype(np.uint8)

    plain = read_sketch(photo(_margin_page(margins=(), turn=4.0, lines=PAPER)), 64).image
    picture = photo(_margin_page(turn=4.0, **kind))
    assert _agreement(plain, read_sketch(picture, 64).image) > 0.95
    assert looks_like_sketch(picture)


@pytest.mark.parametrize("lines,exposure,top", [(PAPER, 1.0, 1.0), (MID_BLUE, 1.0, 1.0), (PAPER, 0.4, 1.0),
                                                (MID_BLUE, 0.6, 0.85)])
def test_a_blank_sheet_on_a_dark_desk_has_no_drawing(lines, exposure, top, monkeypatch):
    """Nothing drawn on the sheet, `--sketch`: before, the bright rectangle was read as light
    ink (a render's white shape) and its edge became a box; now, "no drawing found"."""
    import treediff.preprocess as preprocess
    from treediff.errors import TreediffError

    page = _page(lines=lines, drawing=False)
    if top < 1.0:
        page = _seen_from_below(page, top)
    photo = (_on_desk(page) / 255.0 * exposure).astype(np.float32)
    with pytest.raises(TreediffError, match="no drawing found"):
        read_sketch(photo, 64)
    monkeypatch.setattr(preprocess, "_sketch_light_ink", lambda rgb: preprocess._light_ink(
        preprocess._grey(rgb, light=False)))
    assert read_sketch(photo, 64).image.any()  # the sheet's edge, read as a drawn box


@pytest.mark.parametrize("width", [6, 12, 25])
def test_a_chalk_box_is_no_blank_sheet(width):
    """A light outline of a box on a dark board encloses board, not paper: still chalk."""
    board = Image.new("L", (400, 300), 40)
    ImageDraw.Draw(board).rectangle((150, 40, 250, 260), outline=230, width=width)
    chalk = np.asarray(board, dtype=np.float32) / 255.0
    assert _agreement(read_sketch(1.0 - chalk, 64).image, read_sketch(chalk, 64).image) > 0.97


@pytest.mark.parametrize("grid,desk,turn,top", [(True, DESK, 30.0, 1.0), (False, (150, 150, 150), 110.0, 1.0),
                                                (True, DESK, -40.0, 0.85), (False, (150, 150, 150), 25.0, 0.85)])
def test_a_sheet_turned_far_on_a_desk_reads_as_the_sheet(grid, desk, turn, top):
    """A sheet lying at any angle on the desk, seen straight or from below (its lines then
    converge, and are sought within 12 degrees of the page's angle, wherever that is)."""
    def photo(lines):
        page = _page(lines=lines, grid=grid)
        if top < 1.0:
            page = _seen_from_below(page, top, desk)
        return _on_desk(page, colour=desk, turn=turn)

    assert _agreement(read_sketch(photo(PAPER), 64).image, read_sketch(photo(MID_BLUE), 64).image) > 0.97
