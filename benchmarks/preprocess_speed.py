"""How long reading a photographed drawing takes, by kind of photo.

`treediff solve` reads a photo twice before any search: `looks_like_sketch` (whether to
switch to sketch mode) and `read_sketch` (the drawing at the model's size). Both look for
the printed lines of ruled and squared paper, a ruled page's margin and a desk around the
sheet, and that work grows with what the photo shows. This script draws a page (the same
circle and box) as plain, ruled, margined and squared paper, alone or on a desk, straight
or turned 4 degrees and seen at an angle, or turned 30 degrees, photographs it at
1,280 x 960, and times both calls, each the median of `--repeats` runs in one process.
Two more rows are a whole A4 page squared or ruled every 5 mm filling a 12 MP phone photo
(4,032 x 3,024), whose lines lie 8 px apart at the working size. The ratio is against the
plain page alone, timed in the same run: the machines here are noisy, ratios less so.

    python benchmarks/preprocess_speed.py [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from treediff.preprocess import looks_like_sketch, read_sketch

W, H = 640, 480
PAPER, LINES, MARGIN, PEN, DESK = (250, 248, 240), (120, 160, 215), (200, 40, 40), (30, 30, 60), (110, 85, 60)


def page(kind: str, turn: float) -> Image.Image:
    """A page larger than its frame (so a turned page still fills it) with a circle and a box."""
    pad = 420
    im = Image.new("RGB", (W + 2 * pad, H + 2 * pad), PAPER)
    d = ImageDraw.Draw(im)
    if kind != "plain":
        for y in range(8, H + 2 * pad, 32):
            d.line((0, y, W + 2 * pad, y), fill=LINES, width=2)
    if kind == "squared":
        for x in range(8, W + 2 * pad, 32):
            d.line((x, 0, x, H + 2 * pad), fill=LINES, width=2)
    if kind == "margined":
        for x in (80, 88):
            d.line((x + pad, 0, x + pad, H + 2 * pad), fill=MARGIN, width=3)
    d.ellipse((180 + pad, 120 + pad, 360 + pad, 300 + pad), outline=PEN, width=4)
    d.rectangle((380 + pad, 150 + pad, 540 + pad, 330 + pad), outline=PEN, width=4)
    im = im.rotate(turn, resample=Image.Resampling.BICUBIC, fillcolor=PAPER)
    return im.crop((pad, pad, pad + W, pad + H)).filter(ImageFilter.GaussianBlur(0.8))


def whole_page(kind: str) -> np.ndarray:
    """A whole A4 page lying sideways, squared or ruled every 5 mm (lines 0.25 mm wide), with
    a circle and a box drawn with a 0.6 mm pen, filling a 4,032 x 3,024 photo."""
    width, height = 4032, 3024
    mm = width / 297.0
    im = Image.new("RGB", (width, height), PAPER)
    d = ImageDraw.Draw(im)
    line, step = round(0.25 * mm), 5 * mm
    for k in range(1, int(height / step) + 1):
        d.line((0, k * step, width, k * step), fill=LINES, width=line)
    for k in range(1, int(width / step) + 1) if kind == "squared" else ():
        d.line((k * step, 0, k * step, height), fill=LINES, width=line)
    d.ellipse((0.28 * width, 0.3 * height, 0.28 * width + 0.4 * height, 0.7 * height), outline=PEN, width=round(0.6 * mm))
    d.rectangle((0.55 * width, 0.3 * height, 0.75 * width, 0.7 * height), outline=PEN, width=round(0.6 * mm))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(1.0)))


def seen_from_below(im: Image.Image, top: float) -> Image.Image:
    """The page photographed at an angle: its top edge `top` times as wide as its bottom."""
    inset = (1.0 - top) / 2.0 * W
    rows = []
    for (x, y), (u, v) in zip([(inset, 0), (W - inset, 0), (W, H), (0, H)], [(0, 0), (W, 0), (W, H), (0, H)]):
        rows += [([x, y, 1, 0, 0, 0, -u * x, -u * y], u), ([0, 0, 0, x, y, 1, -v * x, -v * y], v)]
    coefficients = np.linalg.solve(np.array([r for r, _ in rows], float), np.array([b for _, b in rows], float))
    return im.transform((W, H), Image.Transform.PERSPECTIVE, tuple(coefficients), Image.Resampling.BICUBIC,
                        fillcolor=DESK)


def photo(kind: str, desk: bool, angled: bool, turn: float = 0.0) -> np.ndarray:
    """The page filling a 1,280 x 960 frame, turned `turn` degrees, or a quarter of it on a
    desk (turned 4 degrees, and seen at an angle with `angled`)."""
    im = page(kind, 4.0 if angled else turn)
    if angled:
        im = seen_from_below(im, 0.85)
    if not desk:
        return np.asarray(im.resize((2 * W, 2 * H), Image.Resampling.BICUBIC))
    frame = Image.new("RGB", (2 * W, 2 * H), DESK)
    frame.paste(im, (W // 2 + 40, H // 2 - 30))
    return np.asarray(frame.rotate(4, resample=Image.Resampling.BICUBIC, fillcolor=DESK))


def median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(1000.0 * (time.perf_counter() - start))
    return float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="unused: the photos are drawn, not sampled")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        print("preprocess_speed: --repeats must be positive", file=sys.stderr)
        return 2
    photos = [(kind, desk, angled, turn, photo(kind, desk, angled, turn))
              for kind in ("plain", "ruled", "margined", "squared")
              for desk, angled, turn in ((False, False, 0.0), (True, False, 0.0), (True, True, 0.0), (False, False, 30.0))]
    photos += [(f"whole {kind} 12 MP", False, False, 0.0, whole_page(kind)) for kind in ("ruled", "squared")]
    rows = []
    for kind, desk, angled, turn, picture in photos:
        read_sketch(picture, 64)  # imports and first-call costs out of the timing
        rows.append(dict(page=kind, desk=desk, angled=angled, turn=turn, sketch=bool(looks_like_sketch(picture)),
                         read_ms=median_ms(lambda: read_sketch(picture, 64), args.repeats),
                         detect_ms=median_ms(lambda: looks_like_sketch(picture), args.repeats)))
    base = rows[0]["read_ms"] + rows[0]["detect_ms"]
    for row in rows:
        row["ratio_to_plain_page"] = round((row["read_ms"] + row["detect_ms"]) / base, 2)
        row["read_ms"], row["detect_ms"] = round(row["read_ms"], 1), round(row["detect_ms"], 1)
    if args.json:
        print(json.dumps({"script": Path(__file__).name, "repeats": args.repeats, "photos": rows}))
    else:
        print(f"{'page':<22} {'desk':<5} {'angled':<6} {'turn':>4} {'switch':<6} {'read ms':>8} {'detect ms':>10} {'ratio':>6}")
        for row in rows:
            print(f"{row['page']:<22} {str(row['desk']):<5} {str(row['angled']):<6} {row['turn']:>4.0f} {str(row['sketch']):<6} "
                  f"{row['read_ms']:>8} {row['detect_ms']:>10} {row['ratio_to_plain_page']:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
