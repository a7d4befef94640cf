"""Real drawings in: photos or scans of a sketch -> clean strokes at the model's input size.

`preprocess_sketch` works for dark-on-light and light-on-dark drawings, coloured paper,
uneven lighting, JPEG noise and a slightly rotated sheet:

1. greyscale; if the background (the median: ink is the minority) is dark, invert, unless
   the bright part is a sheet of paper with a drawing on it, on a dark desk (`_light_ink`);
2. lighting correction: the paper's brightness is estimated by a grey closing (which
   erases strokes thinner than the window) followed by a blur, and ink is measured as the
   relative darkening against it;
3. threshold: a pixel is ink when its darkening beats both Otsu's global threshold (with a
   floor, so a blank sheet gives nothing) and Sauvola's local one;
4. specks (connected components smaller than about 0.03% of the picture) are removed,
   and so is everything outside the sheet when a much darker table shows around it (the
   sheet is then cut out of the full photo and read alone at the working size), and
   small pieces of ink along the picture's border (the edge of a turned sheet on a table
   a little darker than the paper), and the printed lines of ruled or squared paper
   (`ruled_lines`: a family of evenly spaced straight lines across the picture);
5. framing: ``frame="bbox"`` crops to the drawing and pads it to a square in which its
   longer side takes `FILL` of the canvas (the typical extent of CSG2D programs), for
   photos whose canvas is unknown; ``frame="canvas"`` keeps the whole (square-padded)
   picture as the canvas;
6. stroke normalisation: the strokes are thinned to their skeleton and redrawn at a
   standard pen width, so a thick marker and a fine pen look alike to the model;
7. resized (area average) to the model input. Ink = 1, like renders.

`read_sketch` also returns the skeleton of step 6 at `DETAIL` times the input size: the
pen's centre line, sharper than the model input can hold (a digit of the CSG2D grid is 4
pixels at 64 but 16 in the skeleton). The sketch domain's final choice measures
candidates against it (`sketch.detail_outline_score`).

`looks_like_sketch` tells line drawings (thin strokes, little filled area) from filled
pictures such as renders, for the automatic switch to sketch mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import TreediffError
from .images import MAX_PIXELS
from .ruled_lines import without_ruled_lines

WORK_SIDE = 512  # pictures are analysed at most this large (strokes stay several pixels wide)
FILL = 0.75  # frame="bbox": the drawing's longer side as a fraction of the canvas
MIN_CONTRAST = 0.12  # ink must darken the paper by at least this fraction
STROKE_WIDTH = 0.025  # standard pen width after normalisation, fraction of the canvas side
FAINT_INK = 0.5  # `_ink_mask`: the contrast the faintest drawings are judged locally at
MAX_INK = 0.35  # more ink than this (after thresholding) is not a line drawing
DETAIL = 4  # the skeleton `read_sketch` returns is this many times the model input's side
PAPER_QUANTILE = 0.75  # `_sheet`: the paper's brightness is this quantile of the light part of the picture
SHEET_ZOOM = 1.25  # a sheet on a desk is cut out and read alone when that gives it this many times the pixels across


def _checked(image: np.ndarray) -> np.ndarray:
    """`image` as an array, if it is a picture of a size sketch mode reads."""
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)) or 0 in array.shape:
        raise TreediffError(f"expected a grey or RGB picture, got an array of shape {array.shape}")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise TreediffError(f"the picture is {array.shape[1]}x{array.shape[0]} = "
                            f"{array.shape[0] * array.shape[1] / 1e6:.0f} megapixels; the limit is "
                            f"{MAX_PIXELS / 1e6:.0f} (resize it first)")
    return array


def _shrinkable_rgb(image: np.ndarray) -> np.ndarray:
    """`_as_rgb`, but a uint8 RGB picture stays uint8, which `_limit_side` shrinks as it is:
    converting a 12 MP photo to float first took 0.9 s, shrinking it 0.02 s."""
    array = _checked(image)
    return array if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3 else _as_rgb(array)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Any uint8/float grey/RGB/RGBA array -> float32 RGB in [0, 1]."""
    array = _checked(image)
    array = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[2] == 4:  # composite over white paper
        alpha = array[..., 3:]
        array = array[..., :3] * alpha + (1.0 - alpha)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.clip(array, 0.0, 1.0)


def _limit_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """An RGB picture (uint8, or float in [0, 1]) at most `side` on its longer side, as float32.

    Why not a plain area average: it shrinks a pen line thinner than the reduction factor
    into a faint grey smear. A 1-pixel line drawn with a mouse at 800 px, or a 3-pixel pen
    line in a 2,000 px scan, came out broken into pieces the speck removal then dropped
    ("no drawing found"). So the picture is first shrunk by whole blocks keeping each
    block's darkest pixel (the lightest for chalk on a board), then every pixel takes the
    darkest of its 2 x 2 neighbourhood, so a line stays at least one pixel wide through
    the last (under twofold) area average. Plain paper stays as it was.
    """
    from PIL import Image
    from scipy.ndimage import maximum_filter, minimum_filter

    h, w = rgb.shape[:2]
    if max(h, w) <= side:
        return rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb
    k = side / max(h, w)
    u8 = rgb if rgb.dtype == np.uint8 else (np.clip(rgb, 0.0, 1.0) * 255).round().astype(np.uint8)
    light_ink = _light_ink(u8[::8, ::8] @ np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255.0)
    keep = np.maximum if light_ink else np.minimum
    block = int(1.0 / k)  # whole blocks, so the pooled picture is still at least `side`
    down, across = min(block, h), min(block, w)  # a picture a few pixels thin keeps one row
    if block > 1:
        rows, cols = h // down * down, w // across * across
        u8 = keep.reduce([u8[i:rows:down] for i in range(down)])
        u8 = keep.reduce([u8[:, j:cols:across] for j in range(across)])
    u8 = (maximum_filter if light_ink else minimum_filter)(u8, size=(2, 2, 1))
    img = Image.fromarray(np.ascontiguousarray(u8))
    img = img.resize((max(round(w * k), 1), max(round(h * k), 1)), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32) / 255.0


def load_photo(path: str | Path) -> np.ndarray:
    """A photo or scan as float32 RGB in [0, 1], at most `WORK_SIDE` on its longer side.

    Same checks as `treediff.images.load_image` (missing, empty, corrupt, too many pixels).
    Decoded in full and shrunk by `_limit_side`, so fine pen lines survive.
    """
    from .images import read_rgb

    return _limit_side(np.asarray(read_rgb(path)), WORK_SIDE)


# A bright region at least this deep (a fraction of the picture's longer side from its
# edge) making up SHEET_CORE of the picture, with only thin dark marks on it (none deeper
# than MARK_DEPTH), is a sheet of paper with a drawing: chalk strokes are thin, and a
# filled picture's shapes carry no pen marks. (A sheet a third of the frame's width on a
# desk keeps about 3 %.)
SHEET_DEPTH = 0.03
SHEET_CORE = 0.02
MARK_DEPTH = 0.02
LINE_CLOSING = 0.01  # dark lines thinner than about twice this are closed over first
# A desk around a sheet (`_sheet`, and `_light_ink`'s sheet test) is darker than this
# share of the paper's brightness ...
DESK_CONTRAST = 0.8
DESK_STEP = 0.05  # ... and meets the sheet at a step of at least this share of it, beyond smooth lighting
DARK_DESK = 0.5  # a desk lighter than this share of the paper must show all round a rectangular sheet
BLANK_SHEET = 0.98  # in sketch mode, a sheet on a desk this bright all over is blank paper, not light ink


def _light_ink(grey: np.ndarray) -> bool:
    """Whether the ink is lighter than its background (chalk on a board, a white pen on dark
    paper): the median pixel (the background; ink is the minority) is dark, it is not paper
    in dim light, and no bright region is a sheet of paper with a drawing on it.

    Why the last two tests: paper photographed in dim light is darker than mid-grey, and
    was read inverted (the paper taken for a board); but there the lighter of Otsu's two
    classes is most of the picture and the darker one only thin strokes. And a sheet
    photographed on a dark desk can cover under half of the frame. Read by the median alone,
    the desk was the paper and the sheet a giant stroke (a sheet filling 70 % of the width:
    its edge read as a box around the drawing). A render's white shapes on black are no
    sheet: nothing is drawn on them, or what lies inside them (a hole cut by a difference)
    is no thin pen line. A board lit unevenly splits into a lighter and a darker part too,
    but they meet gradually; a dim sheet meets its desk at a step (`_lighting_step`)."""
    from scipy.ndimage import binary_closing, binary_fill_holes, distance_transform_edt
    from skimage.filters import threshold_otsu
    from skimage.morphology import disk

    if float(np.median(grey)) >= 0.5:
        return False
    if float(grey.max() - grey.min()) < 1e-3:
        return True
    side = max(grey.shape)
    bright = grey > threshold_otsu(grey)
    if bright.mean() > 0.5 and float(distance_transform_edt(~bright).max()) <= MARK_DEPTH * side:
        return False  # dim paper: the lighter class is most of the picture, the darker only strokes
    paper, desk = float(np.median(grey[bright])), float(np.median(grey[~bright]))
    if desk > DESK_CONTRAST * paper:  # a sheet is clearly lighter than a desk
        return True
    if paper < 0.5 and _lighting_step(grey, ~bright) < DESK_STEP * paper:
        return True  # a dim lighter part that smooth lighting explains: the board's, not a sheet
    # printed lines and pen strokes closed over: squared paper is one sheet, not many squares
    sheet = binary_closing(bright, structure=disk(max(1, int(LINE_CLOSING * side))))
    if float((distance_transform_edt(sheet) >= SHEET_DEPTH * side).mean()) < SHEET_CORE:
        return True
    marks = binary_fill_holes(sheet) & ~bright
    return not marks.any() or float(distance_transform_edt(marks).max()) > MARK_DEPTH * side


def _grey(rgb: np.ndarray, light: bool | None = None) -> np.ndarray:
    """Greyscale with the paper bright: inverted when the ink is light (`light`, by default
    `_light_ink` of this picture)."""
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return 1.0 - grey if (_light_ink(grey) if light is None else light) else grey


def _sheet(grey: np.ndarray, framed: bool = False) -> np.ndarray | None:
    """The inside of the sheet of paper when a darker surround (a table) is in the picture.

    Otsu's threshold on a strongly blurred copy (strokes fade away) finds dark regions; those
    touching the picture's border, and dark at the border itself, are the surround, if they
    cover at least 5% of the picture, are darker than DESK_CONTRAST of the rest's brightness
    (DARK_DESK unless they go all round a rectangular sheet), and meet the rest at a step
    (DESK_STEP of the paper's brightness, `_lighting_step`): a lighting gradient across the
    paper darkens a corner as much, but gradually. The sheet is the rest, shrunk by 2% so
    its edge is not ink. With `framed`, a sheet the photo cuts at its top and bottom (or its
    left and right) goes "all round" when the desk shows at both other sides.
    """
    from scipy.ndimage import binary_erosion, gaussian_filter, label, mean
    from skimage.filters import threshold_otsu

    side = max(grey.shape)
    blurred = gaussian_filter(grey, side / 50)
    dark = blurred < threshold_otsu(blurred)
    labels, _ = label(dark)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]
    # The paper's brightness, not the median pixel's: the table can be most of the picture.
    # And the paper's, not its printed lines': a page squared every 5 mm on a third of a
    # 4000 x 3000 frame, shrunk keeping each block's darkest pixel, is mostly lines, and its
    # median (0.72) made a grey desk (0.59) no desk. Hence the upper quartile.
    paper = float(np.quantile(grey[~dark], PAPER_QUANTILE)) if (~dark).any() else 0.0
    # A table reaches the picture's edge; a line drawn near it leaves paper between. (A black
    # marker line stays dark when blurred, and was taken for a table: the drawing was then
    # cut away as lying outside the sheet.)
    rim = np.zeros(grey.shape, dtype=bool)
    rim[0, :] = rim[-1, :] = rim[:, 0] = rim[:, -1] = True
    rim_brightness = np.asarray(mean(grey, labels * rim, index=edge)) if len(edge) else np.zeros(0)

    def surround(contrast: float) -> np.ndarray | None:
        """The regions at the border darker there than `contrast` of the paper, if a desk's size."""
        found = np.isin(labels, edge[rim_brightness < contrast * paper])
        return None if found.mean() < 0.05 or found.all() else found

    # A desk lighter than DARK_DESK of the paper must go all round a rectangular sheet: a
    # shadow across the paper meets it at a step too, but not all round (cut away with the
    # desk, the strokes in the shadow were lost).
    desk = surround(DESK_CONTRAST)
    if desk is not None:
        rest = ~desk
        across, down = rest[0].any() or rest[-1].any(), rest[:, 0].any() or rest[:, -1].any()
        lone = not (across and down if framed else across or down) and _rectangular(rest)
        if not lone or float(np.median(grey[desk])) > DESK_CONTRAST * paper:
            desk = surround(DARK_DESK)
            # judged as it is, not blurred: seen a little from below, a page filling the frame
            # shows the desk as wedges 4 % of the width at most, which the blur lightened to
            # over half the paper
            if desk is not None and float(np.median(grey[desk])) > DARK_DESK * paper:
                desk = None
    if desk is None or _lighting_step(grey, desk) < DESK_STEP * paper:
        return None
    rest = ~desk
    return binary_erosion(rest, iterations=_sheet_edge(grey))


def _lighting_step(grey: np.ndarray, surround: np.ndarray) -> float:
    """How much brighter the rest is than `surround`, beyond what smooth lighting explains:
    the difference of the median residuals either side after fitting the paper's brightness
    (thin dark strokes closed over) with a quadratic in x and y. Light falling off across a
    sheet and towards its corners is such a quadratic; a desk's edge is a step it cannot follow."""
    from scipy.ndimage import grey_closing, zoom

    k = max(1, max(grey.shape) // 64)  # fitted on a grid of about 64 x 64 cells
    h, w = grey.shape[0] // k * k, grey.shape[1] // k * k
    cells = grey_closing(grey, size=(2 * k + 1, 2 * k + 1))[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))
    dark = zoom(surround[:h, :w].astype(np.float32), 1.0 / k, order=0) > 0.5
    if dark.shape != cells.shape or dark.all() or not dark.any():
        return 0.0
    y, x = np.mgrid[0:cells.shape[0], 0:cells.shape[1]].astype(np.float64)
    y, x = y / cells.shape[0] - 0.5, x / cells.shape[1] - 0.5
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)
    fit, *_ = np.linalg.lstsq(terms, cells.reshape(-1), rcond=None)
    residual = cells - (terms @ fit).reshape(cells.shape)
    return float(np.median(residual[~dark]) - np.median(residual[dark]))


def _sheet_edge(grey: np.ndarray) -> int:
    """How many pixels `_sheet` shrinks the sheet by, so its edge is not ink (2% of the side)."""
    return max(1, int(0.02 * max(grey.shape)))


def _ink_strength(rgb: np.ndarray, window: float = 1 / 25, grey: np.ndarray | None = None) -> np.ndarray:
    """How much each pixel darkens the paper around it, in [0, 1], after fixing polarity and lighting.

    The paper estimate erases dark marks narrower than `window` (a fraction of the side).
    `grey`: `_grey(rgb)` when the caller has it already (its polarity test is not free).
    """
    from scipy.ndimage import gaussian_filter, grey_closing

    grey = _grey(rgb) if grey is None else grey
    side = max(grey.shape)
    window = max(5, int(side * window))
    paper = gaussian_filter(grey_closing(grey, size=(window, window)), window / 2)
    paper = np.maximum(paper, grey)
    return np.clip((paper - grey) / np.maximum(paper, 0.05), 0.0, 1.0)


def _ink_mask(strength: np.ndarray, level: float | None = None) -> np.ndarray:
    """Thresholded ink without specks (global Otsu with a floor, and Sauvola locally).
    `level`: `_ink_level(strength)` when the caller has it already."""
    from skimage.filters import threshold_sauvola

    if float(strength.max()) < MIN_CONTRAST:
        return np.zeros(strength.shape, dtype=bool)
    level = _ink_level(strength) if level is None else level
    window = max(15, (max(strength.shape) // 8) | 1)
    # Sauvola asks a pixel to darken its surround by about a fifth, more than MIN_CONTRAST:
    # a faint pen (a yellow marker, a light pencil) is judged locally as if its darkest
    # stroke had FAINT_INK contrast. The global level above still keeps noise out.
    relative = strength * max(1.0, FAINT_INK / float(strength.max()))
    local = threshold_sauvola(1.0 - relative, window_size=window, k=0.2)
    return _without_specks((strength > level) & (1.0 - relative < local))


def _ink_level(strength: np.ndarray) -> float:
    """The global threshold of `_ink_mask`: Otsu's, at least MIN_CONTRAST."""
    from skimage.filters import threshold_otsu

    return max(float(threshold_otsu(strength)), MIN_CONTRAST)


def _without_specks(mask: np.ndarray) -> np.ndarray:
    """`mask` without connected pieces smaller than about 0.03 % of the picture."""
    from skimage.morphology import remove_small_objects

    # 8-connected: a thin diagonal line is one stroke, not a row of specks touching at corners
    return remove_small_objects(mask, max_size=max(8, int(3e-4 * mask.size)), connectivity=2)


# Ink touching the picture's border with fewer pixels than this share of the largest piece
# off the border is the edge of the sheet, not drawing.
BORDER_SLIVER = 0.25


def _without_border_slivers(mask: np.ndarray) -> np.ndarray:
    """`mask` without the small pieces of ink that touch the picture's border.

    Why: a sheet photographed turned on a table only a little darker than the paper (which
    `_sheet` leaves alone, as it would a lighting gradient) leaves a corner of table in the
    frame, and its edge reads as short strokes along the border. In 5 of 12 such simulated
    photos (turned up to 8 degrees, the table 5-30 % darker) that happened, and each piece
    was under 6 % of the drawing's own ink. With `frame="bbox"` such a piece pulled the crop
    and moved the drawing, and search added a shape to draw it. Pieces as large as
    BORDER_SLIVER of the drawing stay, and so does everything when all ink touches the
    border (a drawing cropped tight)."""
    from scipy.ndimage import label

    labels, n = label(mask, structure=np.ones((3, 3), dtype=bool))
    if n < 2:
        return mask
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    inner = np.setdiff1d(np.arange(1, n + 1), border)
    if not len(border) or not len(inner):
        return mask
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    slivers = border[sizes[border] < BORDER_SLIVER * sizes[inner].max()]
    return mask & ~np.isin(labels, slivers)


def _square_window(mask: np.ndarray, frame: str) -> tuple[int, int, int]:
    """(top, left, side) of the square region of `mask` that becomes the canvas."""
    h, w = mask.shape
    if frame == "canvas":
        side = max(h, w)
        return (h - side) // 2, (w - side) // 2, side
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    side = max(int(round(extent / FILL)), 1)
    cy, cx = (rows[0] + rows[-1] + 1) / 2.0, (cols[0] + cols[-1] + 1) / 2.0
    return int(round(cy - side / 2.0)), int(round(cx - side / 2.0)), side


def _crop(mask: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    """The square window of `mask` (outside the picture counts as paper)."""
    out = np.zeros((side, side), dtype=bool)
    h, w = mask.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + side, h), min(left + side, w)
    if y0 < y1 and x0 < x1:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = mask[y0:y1, x0:x1]
    return out


def _normalise_strokes(mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(strokes thinned to their skeleton and redrawn at the standard width, at `size`;
    that skeleton, at DETAIL * size)."""
    from PIL import Image
    from scipy.ndimage import binary_dilation
    from skimage.morphology import disk, skeletonize

    hires = DETAIL * size
    img = Image.fromarray(mask.astype(np.uint8) * 255).resize((hires, hires), Image.Resampling.BOX
                                                              if mask.shape[0] > hires else Image.Resampling.BILINEAR)
    skeleton = skeletonize(np.asarray(img) > 64)
    radius = max(int(round(STROKE_WIDTH * hires / 2)), 1)
    strokes = binary_dilation(skeleton, structure=disk(radius))
    small = Image.fromarray(strokes.astype(np.uint8) * 255).resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0, skeleton


@dataclass(frozen=True)
class SketchReading:
    """A drawing read for sketch mode: `image`, the model input (float32 (size, size), ink
    = 1, standard pen width), and `skeleton`, the pen's centre line (bool, DETAIL * size)."""

    image: np.ndarray
    skeleton: np.ndarray


def read_sketch(image: np.ndarray, size: int = 64, *, frame: str = "bbox") -> SketchReading:
    """A photo/scan of a line drawing -> its `SketchReading` at `size` (see `preprocess_sketch`)."""
    if frame not in ("bbox", "canvas"):
        raise TreediffError(f"unknown frame '{frame}'; choices: bbox, canvas")
    full = _shrinkable_rgb(image)
    rgb = _limit_side(full, WORK_SIDE)
    if float(rgb.max() - rgb.min()) < 0.05:
        raise TreediffError("the picture is blank (a single flat colour); there is no drawing to read")
    light = _sketch_light_ink(rgb)
    grey = _grey(rgb, light=light)
    sheet = _sheet(grey, framed=True)
    if sheet is not None and frame == "bbox" and sheet.any():
        # The sheet, not the frame, is read at the working size, when the photo has the
        # pixels: a page squared every 5 mm on a third of a 4000 x 3000 frame kept its lines
        # 5 px apart and 2 px wide at 512 px, too dense to be found as lines, and pieces of
        # them stayed as strokes.
        top, left, bottom, right = _box_in(full, rgb, sheet)
        # the side the cut would have once shrunk to the working size, worked out before cutting
        if min(max(bottom - top, right - left), WORK_SIDE) >= SHEET_ZOOM * _box_side(sheet):
            rgb, sheet = _cut_out(full, rgb, sheet, WORK_SIDE)
            grey = _grey(rgb, light=light)
    strength = _ink_strength(rgb, grey=grey)
    if sheet is not None:  # a desk around the sheet is no ink, and does not set the threshold
        strength = np.where(sheet, strength, 0.0).astype(np.float32)
    level = _ink_level(strength)
    mask = _ink_mask(strength, level)
    unruled = without_ruled_lines(mask, strength, sheet, strength > level)
    if unruled is not mask:  # what is left of the printed lines where strokes cross them
        mask = _without_specks(unruled)
    mask = _without_border_slivers(mask)
    if not mask.any():
        raise TreediffError("no drawing found: nothing is left after removing the paper, its printed lines and specks "
                            "(photograph dark strokes on light paper, filling most of the frame)")
    if mask.mean() > MAX_INK:
        raise TreediffError(f"{100 * mask.mean():.0f}% of the picture is ink: this is not a line drawing "
                            f"(sketch mode reads outlines drawn with a pen)")
    return SketchReading(*_normalise_strokes(_crop(mask, *_square_window(mask, frame)), size))


def _sketch_light_ink(rgb: np.ndarray) -> bool:
    """`_light_ink` for a picture known to be a pen drawing: a blank sheet lying wholly on a
    darker surround (`_desk_sheet`, bright all over but for printed lines) is paper.

    Why: outside sketch mode a white box on black with nothing inside is a render's shape,
    and `_light_ink` reads it so. A blank sheet photographed on a dark desk is the same
    picture; read as light ink, its edge became a box, "a drawing" of a rectangle instead
    of "no drawing found". A chalk or white-pen outline of a box is no blank sheet: inside
    its strokes it is as dark as the board."""
    from scipy.ndimage import binary_closing
    from skimage.filters import threshold_otsu
    from skimage.morphology import disk

    raw = _grey(rgb, light=False)
    if not _light_ink(raw):
        return False
    sheet = _desk_sheet(raw)
    if sheet is None:
        return True
    bright = binary_closing(raw > threshold_otsu(raw), structure=disk(max(1, int(LINE_CLOSING * max(raw.shape)))))
    return float(bright[sheet].mean()) < BLANK_SHEET


def preprocess_sketch(image: np.ndarray, size: int = 64, *, frame: str = "bbox") -> np.ndarray:
    """A photo/scan of a line drawing -> float32 (size, size) in [0, 1], ink = 1, standard pen width.

    `image`: grey or RGB(A), uint8 or float in [0, 1], any size up to the pixel limit.
    `frame`: "bbox" (crop to the drawing, which then spans `FILL` of the canvas) or
    "canvas" (the whole picture is the canvas). Raises TreediffError for a blank or flat
    picture, a picture without any drawing, or one with too much ink to be a line drawing.
    """
    return read_sketch(image, size, frame=frame).image


def load_sketch(path: str | Path, size: int = 64, *, frame: str = "bbox") -> np.ndarray:
    """`preprocess_sketch` of an image file (with `load_photo`'s checks)."""
    return preprocess_sketch(load_photo(path), size, frame=frame)


SHEET_RECTANGULARITY = 0.85  # a sheet fills this share of its smallest enclosing rectangle


def _desk_sheet(grey: np.ndarray, framed: bool = False, sheet: np.ndarray | None = None) -> np.ndarray | None:
    """`_sheet`, when it is a sheet of paper lying wholly inside the picture: the desk shows
    all round it, and it is a rectangle (`_rectangular`). A render's bright shapes on black
    are rarely one rectangle clear of every edge.

    With `framed`, the photo may also cut the sheet at its top and bottom (or its left and
    right) when the desk shows at both other sides: a portrait page photographed in a
    landscape frame fills its height, and the desk's strips above and below it, a pixel or
    two at 256 px, were too thin to count (looks_like_sketch; 11 of 144 notebook photos).
    `sheet`: `_sheet(grey, framed)` when the caller has it already."""
    sheet = _sheet(grey, framed) if sheet is None else sheet
    if sheet is None or not sheet.any():
        return None
    edge = _sheet_edge(grey) + 1  # the sheet was shrunk by this much from where the desk starts
    across = sheet[:edge].any() or sheet[-edge:].any()  # cut by the frame at the top or bottom
    down = sheet[:, :edge].any() or sheet[:, -edge:].any()
    if (across and down) if framed else (across or down):
        return None
    return sheet if _rectangular(sheet) else None


def _rectangular(region: np.ndarray) -> bool:
    """Whether `region`, its holes filled, is a rectangle, turned or not: it fills
    SHEET_RECTANGULARITY of its smallest enclosing rectangle."""
    from scipy.ndimage import binary_erosion, binary_fill_holes

    whole = binary_fill_holes(region)
    ys, xs = np.nonzero(whole & ~binary_erosion(whole))  # the outline bounds the rectangles
    if not len(ys):
        return False
    smallest = np.inf
    for turn in np.radians(np.arange(0.0, 90.0, 1.0)):
        along, across = xs * np.cos(turn) + ys * np.sin(turn), ys * np.cos(turn) - xs * np.sin(turn)
        smallest = min(smallest, (np.ptp(along) + 1) * (np.ptp(across) + 1))
    return bool(whole.sum() >= SHEET_RECTANGULARITY * smallest)


DETECT_SIDE = 256  # `looks_like_sketch` judges the picture (or the sheet in it) at this size
FINE_DETECT_SIDE = 512  # ... and a larger picture it did not take for a drawing again at this size


def looks_like_sketch(rgb: np.ndarray) -> bool:
    """True for a line drawing: thin strokes on a plain background, little of the picture inked.

    The ink (lighting-corrected darkening above Otsu's threshold, either polarity) must cover under
    25% of the picture, and its typical stroke width (twice the median distance-to-background
    along its skeleton) must be under 12% of the ink's extent, and it must stay off the
    picture's border (the slivers between shapes filling a render touch it). The printed
    lines of ruled or squared paper are not counted (`ruled_lines`). Filled renders fail;
    either polarity of a line drawing passes.

    A sheet photographed on a desk that shows all round it (`_desk_sheet`) stands for the
    picture: it is cut out at the full working size (a quarter of the frame would leave the
    lines of a ruled page too dense to tell from a filled area), the ink is measured on it
    against its area, and its edge, where printed lines end, is not looked at. Where no
    sheet lies inside the picture (a page filling the frame seen from below shows the desk
    only in the top corners) and the whole frame fails, the paper `_sheet` finds is judged
    the same way, and passes only with printed lines on it.

    A picture larger than DETECT_SIDE that fails is judged again at FINE_DETECT_SIDE, where
    it passes only on ruled or squared paper: the lines of a page squared every 5 mm filling
    a phone photo lie 4 px apart at 256 px, too close to tell from a filled area, and 8 px
    apart at 512. (Any picture judged again at 512 px: 7 more of 240 renders of 400-640 px
    taken for drawings, on top of 25.)
    """
    try:
        rgb = _shrinkable_rgb(rgb)
    except TreediffError:
        return False
    if _looks_like_sketch_at(rgb, DETECT_SIDE):
        return True
    return max(rgb.shape[:2]) > DETECT_SIDE and _looks_like_sketch_at(rgb, FINE_DETECT_SIDE, lined=True)


def _looks_like_sketch_at(rgb: np.ndarray, side: int, lined: bool = False) -> bool:
    """`looks_like_sketch` judged with the picture at most `side` on its longer side (with
    `lined`, only a drawing on ruled or squared paper passes)."""
    small = _limit_side(rgb, side)
    if float(small.max() - small.min()) < 0.05:
        return False
    light = _light_ink(_grey(small, light=False))
    grey = _grey(small, light=light)
    loose = _sheet(grey, framed=True)
    sheet = _desk_sheet(grey, framed=True, sheet=loose)
    if sheet is None:
        if _line_drawing(small, grey, lined=lined):
            return True
        # A page seen from below that fills the frame shows the desk only in its top corners:
        # no sheet lying inside the picture, and over the whole frame the desk touches the
        # border. Judged on the paper, it passes only with printed lines on it, which no
        # render has.
        return loose is not None and bool(loose.any()) and _on_sheet(rgb, small, loose, light, side, lined=True)
    return _on_sheet(rgb, small, sheet, light, side, lined)


def _on_sheet(rgb: np.ndarray, small: np.ndarray, sheet: np.ndarray, light: bool, side: int, lined: bool) -> bool:
    """`_line_drawing` on the part of `rgb` that `sheet` (a mask over `small`, its copy at
    most `side` on its longer side) marks, cut out at that size from the full picture."""
    cut, inside = _cut_out(rgb, small, sheet, side)
    # the polarity is the whole picture's: the sheet cut out with bits of desk in its corners
    # can look like a board in dim light
    return _line_drawing(cut, _grey(cut, light=light), inside, lined)


def _box_side(region: np.ndarray) -> int:
    """The longer side of the smallest box holding `region` (bool, not empty)."""
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


def _box_in(rgb: np.ndarray, small: np.ndarray, region: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) in `rgb`, the full picture `small` was shrunk from, of the
    box holding `region` (a mask over `small`), clipped to the picture."""
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    scale = max(rgb.shape[:2]) / max(small.shape[:2])
    top, left = int(rows[0] * scale), int(cols[0] * scale)
    bottom, right = int(np.ceil((rows[-1] + 1) * scale)), int(np.ceil((cols[-1] + 1) * scale))
    return top, left, min(bottom, rgb.shape[0]), min(right, rgb.shape[1])


def _cut_out(rgb: np.ndarray, small: np.ndarray, region: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(the box holding `region`, a mask over `small`, cut from `rgb`, the full picture
    `small` was shrunk from, at most `side` on its longer side; `region` over that cut)."""
    from PIL import Image

    top, left, bottom, right = _box_in(rgb, small, region)
    cut = _limit_side(rgb[top:bottom, left:right], side)
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    inside = Image.fromarray(region[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    return cut, np.asarray(inside.resize((cut.shape[1], cut.shape[0]), Image.Resampling.NEAREST))


def _line_drawing(rgb: np.ndarray, grey: np.ndarray, sheet: np.ndarray | None = None, lined: bool = False) -> bool:
    """`looks_like_sketch`'s tests on `rgb` (its `_grey`), or on the part of it `sheet` marks.
    With `lined`, only a drawing on ruled or squared paper passes."""
    from scipy.ndimage import distance_transform_edt
    from skimage.morphology import skeletonize

    # A wide lighting window: filled shapes stay filled (they are wider than any pen stroke).
    strength = _ink_strength(rgb, window=1 / 4, grey=grey)
    if sheet is not None:
        strength = np.where(sheet, strength, 0.0).astype(np.float32)
        if float(strength.max()) < MIN_CONTRAST:
            return False
    seen = strength > _ink_level(strength)
    ink = without_ruled_lines(seen, strength, sheet)
    if lined and ink is seen:
        return False
    area = 1.0 if sheet is None else float(sheet.mean())
    if not 0.0 < float(ink.mean()) / area < 0.25:
        return False
    if sheet is None:
        # Slivers left between shapes that fill the frame touch its border; pen strokes do not.
        # (Judged with the fine lighting correction, so a dim corner of a photo is not ink.)
        fine_strength = _ink_strength(rgb, grey=grey)
        fine_level = _ink_level(fine_strength)
        fine = without_ruled_lines(_ink_mask(fine_strength, fine_level), fine_strength,
                                   global_ink=fine_strength > fine_level)
        if np.concatenate([fine[0], fine[-1], fine[:, 0], fine[:, -1]]).mean() > 0.1:
            return False
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    skeleton = skeletonize(ink)
    width = 2.0 * float(np.median(distance_transform_edt(ink)[skeleton]))
    return width < 0.12 * extent and extent >= 0.1 * max(ink.shape)
