"""Ruled and squared paper: the page's printed lines taken out of a drawing's ink.

A notebook page photographed in ordinary light has lines dark enough to pass the ink
threshold (a mid blue reads as ink; a pale one does not), and sketch mode would read them
as strokes: shapes the user never drew. Printed lines differ from a drawing in two ways at
once, and both are required before anything is erased:

- each runs straight across the picture (MIN_COVERAGE of its length inside it is ink);
- they come as a family: at least MIN_FAMILY parallel lines, evenly spaced. A drawn box has
  two long parallel sides, two bars four; a page has a dozen.

The page may be turned in the photo by any amount: lines within 45 degrees of the picture's
rows are read across it, the others down it (the picture transposed). On the lines, ink
clearly darker than the printed lines' own stays: people trace the lines of squared paper,
and a pen is darker than the print. Where a stroke crosses a line, the gap erasing the line
leaves is closed again, so the stroke stays whole. Thin ink at every place the family's
spacing puts a line goes the same way, found or not: a line too faint to be found whole
(broken into dashes by the threshold, broken beside a drawn stroke it then joins, or cut
short by a corner of the sheet) leaves its pieces there. On a photo of a sheet on a desk, lines are
measured across the sheet. On a page photographed at an angle the lines converge; then each
is found at its own turn, the turn changing steadily across the family.

Ruled (not squared) pages often have a margin: one or two lines across the rules, often red
and as dark as a pen. Alone they are no family, so a margin must show what a drawn line
does not: it runs the page's whole length, from edge to edge, and ends in no corner.
"""

from __future__ import annotations

import numpy as np

MAX_TURN_DEG = 45.0  # how far lines read across (or down) the picture may be turned from its rows (columns)
TURN_STEP_DEG = 0.5
MIN_COVERAGE = 0.6  # share of a line's length inside the picture that must be ink
MIN_CHORD = 0.25  # lines shorter than this share of the picture's side (near a corner of a turned page) are not counted
MIN_FAMILY = 5  # evenly spaced parallel lines needed before any is erased
SPACING_TOLERANCE = 0.25  # a gap may differ from the family's median gap by this share of it
THIN_WINDOW, THIN_SHARE = 9, 0.6  # ink at a place goes where under this share of the window around it is ink
CROWDED_TOLERANCE = 0.15  # lines crowding towards one end lie this close (share of the gap) to a quadratic
MIN_GAP_RATIO = 3.0  # printed lines are thin against the paper between them (dense ones shrunk to 512 px: 2 px in 7)
BESIDE_GAP, BESIDE_INK = 3, 0.3  # ... and each has paper beside it (`_lines`)
BESIDE_SHARE, SOLID_LINE = 0.4, 0.95  # ... or, beside a line inked all along, a strip under 0.4 as inked
# On a page photographed at an angle the lines converge: each line's turn may stray this
# many degrees from a steady change across the family.
PENCIL_TOLERANCE = 0.75
MIN_CONVERGENCE_DEG = 1.0  # ... and must turn by this much from one side of the family to the other
CONVERGING_SPAN_DEG = 12.0  # ... and is sought within this many degrees of the page's angle
# On a printed line, ink stays when its strength is above the line's typical strength by
# this share of the way to full strength (a black pen on mid-blue lines: 0.85 against 0.4).
DARKER = 0.4
# Ruled (not squared) pages often have a margin: one or two lines across the rules.
MARGIN_COVERAGE = 0.9
MAX_MARGIN_LINES = 2


def _offsets(ys: np.ndarray, xs: np.ndarray, turn: float) -> np.ndarray:
    """Signed distance of pixels from the line through the origin turned by `turn` (radians)."""
    return ys * np.cos(turn) - xs * np.sin(turn)


def _chords(h: int, w: int, turn: float, offsets: np.ndarray) -> np.ndarray:
    """Pixels of an h x w picture in the 1 px strip at each offset (the line's chord length)."""
    s, c = np.sin(turn), np.cos(turn)
    if abs(s) < 1e-9:
        return np.where((offsets >= -0.5) & (offsets <= h - 0.5), float(w), 0.0)
    ends = np.stack([-offsets / s, (h * c - offsets) / s])
    low = np.clip(ends.min(axis=0), 0, w)
    high = np.clip(ends.max(axis=0), 0, w)
    return (high - low) / c


def _lines(counts: np.ndarray, chords: np.ndarray, side: int, coverage: float = MIN_COVERAGE) -> list[tuple[int, int]]:
    """Runs of strips (first, last) whose chord is long enough and `coverage` ink, with
    paper on at least one side: the strip BESIDE_GAP beyond the run is under BESIDE_INK ink.
    (Inside a filled shape, strips hover about the coverage and leave runs a strip wide.)"""
    share = counts / np.maximum(chords, 1.0)
    full = (chords >= MIN_CHORD * side) & (share >= coverage)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], full.astype(np.int8), [0]])))
    runs = [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]

    def beside(i: int) -> float:
        return float(share[i]) if 0 <= i < len(share) else 0.0

    # On squared paper the other family's lines make every strip between these partly ink (a
    # third, where a page's dense lines are read by the global threshold): beside a line
    # inked all along, paper is then a strip under BESIDE_SHARE as inked. A run barely over
    # the coverage (inside a filled shape) still needs a strip under BESIDE_INK.
    def paper_beside(a: int, b: int) -> bool:
        near = min(beside(a - BESIDE_GAP), beside(b + BESIDE_GAP))
        if near < BESIDE_INK:
            return True
        if near >= BESIDE_SHARE:  # not under BESIDE_SHARE of a share of at most 1: no need to read the run
            return False
        inked = float(share[a:b + 1].min())
        return inked >= SOLID_LINE and near < BESIDE_SHARE * inked

    return [(a, b) for a, b in runs if paper_beside(a, b)]


def _is_family(lines: list[tuple[int, int]]) -> bool:
    """At least MIN_FAMILY thin lines (first, last strip), at least MIN_FAMILY - 1 of their
    gaps within SPACING_TOLERANCE of the median gap (a line the threshold missed leaves one
    double gap), that gap at least MIN_GAP_RATIO times as wide as the lines. The last keeps
    a filled shape out: its strips run across the picture too, side by side."""
    if len(lines) < MIN_FAMILY:
        return False
    centres = np.array([(a + b) / 2.0 for a, b in lines])
    thickness = float(np.median([b - a + 1 for a, b in lines]))
    gaps = np.diff(centres)
    typical = float(np.median(gaps))
    return (typical >= MIN_GAP_RATIO * thickness
            and int((np.abs(gaps - typical) <= SPACING_TOLERANCE * typical).sum()) >= MIN_FAMILY - 1)


def _spacing(centres: np.ndarray) -> tuple[float, float]:
    """(gap, first): the places centre = first + k * gap fitted to a family's line centres
    (a median gap of whole strips drifts by pixels across a page of thirty lines). A line
    off the spacing (one line read twice, at a corner of a page turned 45 degrees) is left
    out of a second fit: it pulled the places a pixel or two off the lines."""
    steps = np.rint((centres - centres[0]) / float(np.median(np.diff(centres))))
    gap, first = np.polyfit(steps, centres, 1)
    on = np.abs(centres - (first + gap * steps)) <= SPACING_TOLERANCE * gap
    if on.sum() < len(on) and len(np.unique(steps[on])) >= 2:
        gap, first = np.polyfit(steps[on], centres[on], 1)
    return float(gap), float(first)


def _crowded_places(centres: np.ndarray, gap: float, first: float):
    """(curve, k_first, k_last): the places of a family whose lines crowd towards one end,
    centre = curve(k) (a quadratic in the line's number k, from k_first to k_last where
    lines were found), or None when the even places `_spacing` fitted lie on every line.

    Why: a page photographed from below keeps its lines level but brings them closer
    towards its top (8 px apart there, 9.5 at the bottom at 512 px). The even places drift
    off the lines by half a gap across the page, and the pieces the threshold broke off
    lines away from them stayed as strokes."""
    if (np.abs(centres - (first + gap * np.rint((centres - first) / gap))) <= SPACING_TOLERANCE * gap).all():
        return None
    gaps = np.diff(centres)
    steps = np.concatenate([[0.0], np.cumsum(np.rint(gaps / np.median(gaps)))])  # a missed line: two gaps
    for _ in range(3):  # counted again in the gap the curve gives where they are: 23 px is 3 gaps at the top
        if len(np.unique(steps)) < MIN_FAMILY:
            return None
        curve = np.polyfit(steps, centres, 2)
        local = np.maximum(np.polyval(np.polyder(curve), steps[:-1] + 0.5), 1.0)
        steps = np.concatenate([[0.0], np.cumsum(np.maximum(np.rint(gaps / local), 1.0))])
    if len(np.unique(steps)) < MIN_FAMILY:
        return None
    curve = np.polyfit(steps, centres, 2)
    if np.abs(centres - np.polyval(curve, steps)).max() > CROWDED_TOLERANCE * gap:
        return None
    return curve, float(steps.min()), float(steps.max())


def _distance_to_places(offset: np.ndarray, crowded, reach: float) -> np.ndarray:
    """Every offset's distance to the nearest place of `_crowded_places`, the curve followed
    on past the lines found while the gap it gives stays over half the first's."""
    curve, k_first, k_last = crowded
    slope = np.polyder(curve)
    least = 0.5 * abs(float(np.polyval(slope, k_first)))
    ks = np.arange(k_first - np.ceil(reach), k_last + np.ceil(reach) + 1.0)  # whole line numbers
    ks = ks[np.abs(np.polyval(slope, ks)) >= least]
    places = np.sort(np.polyval(curve, ks))
    at = np.clip(np.searchsorted(places, offset), 1, len(places) - 1)
    return np.minimum(np.abs(offset - places[at - 1]), np.abs(offset - places[at]))


def _region_chords(outline: tuple[np.ndarray, np.ndarray], turn: float, low: int, n: int) -> np.ndarray:
    """Like `_chords`, inside a region (the sheet of paper, taken as convex) given by its
    outline's pixels (ys, xs): the span of each strip between the outermost of them."""
    ys, xs = outline
    strip = np.rint(_offsets(ys, xs, turn)).astype(np.int64) - low
    along = ys * np.sin(turn) + xs * np.cos(turn)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, strip, along)
    np.maximum.at(last, strip, along)
    return np.maximum(last - first + 1.0, 0.0)


def _scan(mask: np.ndarray, region: np.ndarray | None):
    """For each turn tried: (turn, ink in each 1 px strip along it, each strip's length
    across the picture or `region`, the side lines are measured against, the first strip's
    offset). `_lines` reads lines off them."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    reach = w * np.sin(np.radians(MAX_TURN_DEG))
    low = -int(np.ceil(reach)) - 1  # the smallest offset of any turn
    strips = np.arange(max(h + w, int(np.ceil(h + 2 * reach))) + 2) + low  # ... and up to the largest
    if region is not None:
        from scipy.ndimage import binary_erosion

        # its outermost pixels, two deep: a one-pixel outline skips a strip here and there
        outline = np.nonzero(region & ~binary_erosion(region, iterations=2))
        side = int(outline[1].max() - outline[1].min() + 1) if len(outline[1]) else 0
    else:
        side = w
    for deg in np.arange(-MAX_TURN_DEG, MAX_TURN_DEG + TURN_STEP_DEG / 2, TURN_STEP_DEG):
        turn = np.radians(deg)
        counts = np.bincount(np.rint(_offsets(ys, xs, turn)).astype(np.int64) - low, minlength=len(strips))
        chords = (_chords(h, w, turn, strips) if region is None
                  else _region_chords(outline, turn, low, len(strips)))
        yield turn, counts[:len(strips)], chords, side, low


def _band(shape: tuple[int, int], turn: float, low: int, lines: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The pixels within 1.5 px of the strips `lines` at `turn`, and every pixel's strip offset."""
    offset = _offsets(*np.mgrid[0:shape[0], 0:shape[1]], turn) - low
    band = np.zeros(shape, dtype=bool)
    for a, b in lines:
        band |= (offset >= a - 1.5) & (offset <= b + 1.5)
    return band, offset


def _family_band(mask: np.ndarray, scans: list, taken: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(the band along the family of printed lines found within 45 degrees of the rows, the
    band along every place its spacing puts a line, the lines' width), or None when `mask`
    shows no such family. `scans`: `_scan` of `mask`, across the sheet or the picture. A family
    lying on the band `taken` (found already) does not count."""
    best, found, most = None, [], (-1, 0.0)
    for turn, counts, chords, side, low in scans:
        lines = _lines(counts, chords, side)
        found.append((turn, counts, lines, low))
        # the page's angle is the one whose lines hold the most ink
        held = sum(int(counts[a:b + 1].sum()) for a, b in lines)
        most = max(most, (held, turn))
        if (_is_family(lines) and (best is None or held > best[0])
                and not (taken is not None and _same_lines(_band(mask.shape, turn, low, lines)[0], taken))):
            best = (held, turn, lines, low)
    # Lines converging (a page photographed at an angle) leave few at any one turn: the
    # family found at each line's own turn, near the page's angle, wins when it holds more lines.
    converging = _converging_family(mask, [f for f in found if abs(f[0] - most[1]) <= np.radians(CONVERGING_SPAN_DEG)])
    if (converging is not None and (best is None or converging[3] > len(best[2]))
            and not (taken is not None and _same_lines(converging[0], taken))):
        return converging[:3]
    if best is None:
        return None
    _, turn, lines, low = best
    # the places a line is put at, fitted to the lines found
    centres = np.array([(a + b) / 2.0 for a, b in lines])
    gap, first = _spacing(centres)
    half = float(np.median([b - a for a, b in lines])) / 2.0 + 1.5
    band, offset = _band(mask.shape, turn, low, lines)
    crowded = _crowded_places(centres, gap, first)
    if crowded is None:
        phase = np.abs((offset - first + gap / 2.0) % gap - gap / 2.0)  # distance to the nearest place
    else:
        phase = _distance_to_places(offset, crowded, sum(mask.shape) / gap)
    return band, phase <= half, max(b - a for a, b in lines) + 3


def _converging_family(mask: np.ndarray, scans: list) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """`_family_band` for a page photographed at an angle, whose lines converge: each line
    straight at its own turn, the turn changing steadily across the family (within
    PENCIL_TOLERANCE of a straight-line fit against the line's place). `scans` holds, per
    turn tried, (turn, ink per strip, the lines found, the first strip's offset). Returns
    `_family_band`'s three and the number of lines."""
    h, w = mask.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    found = []  # (place: signed distance from the picture's centre, turn, first, last, ink)
    for turn, counts, lines, low in scans:
        centre = cy * np.cos(turn) - cx * np.sin(turn)
        for a, b in lines:
            found.append(((a + b) / 2.0 + low - centre, turn, a + low - centre, b + low - centre,
                          int(counts[a:b + 1].sum())))
    found.sort()
    lines = []  # one per line on the page: found at neighbouring turns, the one holding the most ink
    for line in found:
        same = [i for i, kept in enumerate(lines[-3:], max(0, len(lines) - 3))
                if abs(line[0] - kept[0]) <= 2.0 and abs(line[1] - kept[1]) <= np.radians(1.0)]
        if not same:
            lines.append(line)
        elif line[4] > lines[same[-1]][4]:
            lines[same[-1]] = line
    for _ in range(2):  # the pencil: turn against place, drawn strokes dropped as outliers
        if len(lines) < MIN_FAMILY:
            return None
        places, turns = np.array([x[0] for x in lines]), np.array([x[1] for x in lines])
        slope, at_centre = np.polyfit(places, turns, 1)
        lines = [x for x in lines if abs(x[1] - (at_centre + slope * x[0])) <= np.radians(PENCIL_TOLERANCE)]
    if not _is_family([(x[2], x[3]) for x in lines]):
        return None
    places = np.array([x[0] for x in lines])
    if abs(slope) * float(places.max() - places.min()) < np.radians(MIN_CONVERGENCE_DEG):
        return None  # parallel: `_family_band`'s own search reads it at one turn
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)

    def distance(place: float, turn: float) -> np.ndarray:
        """Every pixel's signed distance from the line at `place` turned by `turn`."""
        return (ys - cy) * np.cos(turn) - (xs - cx) * np.sin(turn) - place

    band = np.zeros(mask.shape, dtype=bool)
    for place, turn, first, last, _ in lines:
        band |= np.abs(distance(place, turn)) <= (last - first) / 2.0 + 1.5
    gap, first = _spacing(np.array([x[0] for x in lines]))
    half = float(np.median([x[3] - x[2] for x in lines])) / 2.0 + 1.5
    lattice = np.zeros(mask.shape, dtype=bool)
    reach = np.hypot(h, w) / 2.0
    for k in range(int(np.floor((-reach - first) / gap)), int(np.ceil((reach - first) / gap)) + 1):
        place = first + k * gap
        turn = at_centre + slope * place
        if abs(turn) <= np.radians(MAX_TURN_DEG + PENCIL_TOLERANCE):
            lattice |= np.abs(distance(place, turn)) <= half
    return band, lattice, int(max(x[3] - x[2] for x in lines)) + 3, len(lines)


def _margin_band(mask: np.ndarray, region: np.ndarray | None, scans: list, width: int,
                 drawn: np.ndarray) -> np.ndarray | None:
    """The band along a ruled page's margin in `mask` (near-horizontal: pass the mask
    transposed to the family's, and its `_scan` across `region`), or None. A margin is one
    or two lines no wider than twice the family's `width`, each inked over MARGIN_COVERAGE
    of its length and reaching the picture's (or the sheet's) edge at both ends, with no ink
    of `drawn` (the ink off the family's lines) leaving it there: a box's side as long as
    the page still ends in corners."""
    candidates = []
    for turn, counts, chords, side, low in scans:
        lines = [(a, b) for a, b in _lines(counts, chords, side) if b - a + 1 <= 2 * width]
        if 0 < len(lines) <= MAX_MARGIN_LINES:
            candidates.append((sum(int(counts[a:b + 1].sum()) for a, b in lines), turn, lines, low))
    inside = np.ones(mask.shape, dtype=bool) if region is None else region
    # the turn whose lines hold the most ink first; a turn a little off splits a line in two
    for _, turn, lines, low in sorted(candidates, key=lambda c: -c[0]):
        margin = _band(mask.shape, turn, low, lines)[0]
        if all(_runs_edge_to_edge(mask, drawn, margin, inside, turn, low, line, width) for line in lines):
            return margin
    return None


def _runs_edge_to_edge(mask, drawn, margin, inside, turn, low, line, width) -> bool:
    """Whether `line` (strips at `turn`) is inked along MARGIN_COVERAGE of its length,
    reaches both edges of `inside` and has no `drawn` ink off `margin` near either end."""
    band, offset = _band(mask.shape, turn, low, [line])
    ys, xs = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
    along = ys * np.sin(turn) + xs * np.cos(turn)
    ink, span = along[band & mask], along[band & inside]
    # the band ends in a slant where a turned line meets the edge: the ink may stop that much short
    reach = max(3.0, 0.01 * max(mask.shape)) + (line[1] - line[0] + 3) * abs(np.tan(turn))
    if not len(ink) or ink.min() - span.min() > reach or span.max() - ink.max() > reach:
        return False  # it stops short of an edge: drawn
    if len(np.unique(np.rint(ink))) < MARGIN_COVERAGE * (span.max() - span.min() + 1):
        return False
    near = (np.abs(offset - (line[0] + line[1]) / 2.0) <= (line[1] - line[0]) / 2.0 + 1.5 + 3 * width) & ~margin
    # A stroke leaving an end brings more than 2 widths' worth of pixels within 3 widths of
    # it; fewer are the edge of a printed line the family's places missed (near the corners
    # of a page turned 45 degrees, where lines are too short to be found).
    return not any((drawn & near & (np.abs(along - end) <= 3 * width)).sum() > 2 * width
                   for end in (ink.min(), ink.max()))


def _same_lines(band: np.ndarray, other: np.ndarray) -> bool:
    """Whether two families' bands are mostly the same pixels (squared paper's two
    families share only their crossings). Compared a pixel in from each band's edges: the
    bands of dense lines (a whole page squared every 5 mm, 6-7 px apart at the working size)
    cover most of the page, and two crossing families then shared over half their pixels."""
    from scipy.ndimage import binary_erosion

    band, other = binary_erosion(band), binary_erosion(other)
    return bool((band & other).sum() > 0.5 * min(band.sum(), other.sum()))


def _transposed(family):
    return None if family is None else (family[0].T, family[1].T, family[2])


def _families(seen: np.ndarray, sheet: np.ndarray | None):
    """(seen, the family across, the family down, `_scan` of `seen`, `_scan` of it transposed)."""
    sheet_t = None if sheet is None else sheet.T
    scans, scans_t = list(_scan(seen, sheet)), list(_scan(seen.T, sheet_t))  # each direction once
    across = _family_band(seen, scans)
    # lines turned 45 degrees are found both ways: down, look past the family found across
    down = _transposed(_family_band(seen.T, scans_t, None if across is None else across[0].T))
    return seen, across, down, scans, scans_t


def _printed(found) -> np.ndarray:
    """The bands of the families `_families` found (bool, the picture's shape)."""
    band = np.zeros(found[0].shape, dtype=bool)
    for family in found[1:3]:
        if family is not None:
            band |= family[0]
    return band


def without_ruled_lines(mask: np.ndarray, strength: np.ndarray | None = None,
                        sheet: np.ndarray | None = None, global_ink: np.ndarray | None = None) -> np.ndarray:
    """`mask` (ink, bool) without the printed lines of ruled or squared paper, if it shows
    a family of them in either direction; otherwise `mask` itself. With `strength` (the
    ink's darkening, 0-1, as `mask` was thresholded from), ink on a line that is clearly
    darker than the line stays. With `sheet` (bool, the paper where a desk shows around
    it), lines are measured across the sheet, not the picture. A gap left where a stroke
    crosses a line is closed again (a closing of the remaining ink as wide as the band,
    taken back only on the band). With `global_ink` (the ink a global threshold sees), lines
    are also sought in `mask | global_ink`, and those families are taken when their bands
    cover far more: a local threshold drops dense printed lines (a page squared every 5 mm
    filling a phone photo) where they crowd the surround and keeps only pieces of them,
    while elsewhere the global threshold's wider lines would widen the bands."""
    from scipy.ndimage import binary_closing, uniform_filter
    from skimage.morphology import disk

    from scipy.ndimage import label

    found = _families(mask, sheet)
    # Where the local threshold kept only pieces of dense lines, the global one sees much
    # more ink off the lines found (the flanks of lines found whole lie on their bands).
    if global_ink is not None:
        lines_found = _printed(found)
        if (global_ink & ~mask & ~lines_found).sum() > 0.1 * mask.sum():
            whole = _families(mask | global_ink, sheet)
            if _printed(whole).sum() > 1.5 * lines_found.sum():  # the lines as a whole cover far more
                found = whole
    seen, across, down, scans, scans_t = found
    if across is None and down is None:
        return mask
    families = [f for f in (across, down) if f is not None]
    places = np.zeros(mask.shape, dtype=bool)
    for _, lattice, _ in families:
        places |= lattice
    # (the lines found, where ink goes): also every place the spacing puts a line where the
    # ink is thin, found or not. The threshold breaks lines near a drawn stroke, and their
    # pieces join the stroke; a filled area is no line (a family read across filled shapes).
    thin = uniform_filter(mask.astype(np.float32), THIN_WINDOW) < THIN_SHARE
    bands = [(band, band | (lattice & thin)) for band, lattice, _ in families]
    if across is None or down is None:  # ruled, not squared: a margin may run across the rules
        off_rules = seen & ~bands[0][0] & ~places
        if across is not None:
            margin = _margin_band(seen.T, None if sheet is None else sheet.T, scans_t, across[2], off_rules.T)
            margin = None if margin is None else margin.T
        else:
            margin = _margin_band(seen, sheet, scans, down[2], off_rules)
        if margin is not None:
            bands.append((margin, margin))
    printed = np.zeros(mask.shape, dtype=bool)
    erased = np.zeros(mask.shape, dtype=bool)
    for band, reach in bands:
        printed |= reach
        if strength is None:
            erased |= reach
            continue
        # each band by its own print: a red margin is darker than blue rules
        typical = float(np.median(strength[band & seen])) if (band & seen).any() else 0.0
        erased |= reach & ~(strength > typical + DARKER * (1.0 - typical))
    strokes = mask & ~erased
    # A piece of ink lying wholly where the spacing puts a line goes even where it is darker
    # than the lines found: a dash of a line the threshold broke up.
    labels, n = label(strokes, structure=np.ones((3, 3), dtype=bool))
    outside = np.bincount(labels[strokes & ~places], minlength=n + 1)
    strokes &= (outside > 0)[labels]
    width = max(w for _, _, w in families)
    radius = width // 2 + 1  # closes a gap about as wide as the band, not wider
    closed = binary_closing(np.pad(strokes, radius), structure=disk(radius))[radius:-radius, radius:-radius]
    return strokes | (mask & printed & closed)
