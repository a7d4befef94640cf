"""Reading user images safely and writing treediff's pictures.

User images can be any PNG/JPEG/TIFF of any size and mode. They are checked before decoding
(size limit against decompression bombs), turned upright by their EXIF orientation,
brought to 8 bits (16-bit and float scans scaled, not clipped), composited over white,
padded to a square and resized to the size the networks and goal checks work at.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import TreediffError

MAX_PIXELS = 50_000_000


def read_rgb(path: str | Path) -> Image.Image:
    """Open a user image as RGB, transparent parts white, with the checks every reader needs:
    missing, empty, corrupt or truncated files, and too many pixels (read from the header,
    before decoding)."""
    path = Path(path)
    if not path.exists():
        raise TreediffError(f"image not found: {path}")
    if path.is_dir():
        raise TreediffError(f"{path} is a directory, not an image")
    if path.stat().st_size == 0:
        raise TreediffError(f"{path} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns on stderr past its own limit (89 megapixels), which is above
            # ours: the check below refuses such a picture with one line of its own.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise TreediffError(f"{path} is {width}x{height} = {width * height / 1e6:.0f} megapixels; "
                                    f"the limit is {MAX_PIXELS / 1e6:.0f} (resize it first)")
            img.load()
            # A phone stores the pixels as the sensor saw them and the way it was held in
            # EXIF; viewers turn the picture by it, so a drawing must be read turned too.
            picture = _eight_bit(ImageOps.exif_transpose(img))
            if picture.has_transparency_data:
                rgba = picture.convert("RGBA")
                return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
            return picture.convert("RGB")
    except TreediffError:
        raise
    except Image.DecompressionBombError:
        # Pillow refuses pictures this large in `Image.open`, before our own header check
        raise TreediffError(f"{path} has over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; "
                            f"the limit is {MAX_PIXELS / 1e6:.0f} (resize it first)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        if isinstance(err, UnidentifiedImageError) and _is_heif(path):
            raise TreediffError(f"cannot read {path}: HEIC/HEIF photos (an iPhone's default) are not supported; "
                                f"export or share it as JPEG or PNG") from None
        raise TreediffError(f"cannot read {path} as an image ({type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else 'truncated or corrupt'})") from None


def _is_heif(path: Path) -> bool:
    """An ISO media file of the HEIF family (its `ftyp` box names a HEIC/HEIF brand)."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def _eight_bit(img: Image.Image) -> Image.Image:
    """16-bit and float greyscale (scanners write them) as 8-bit grey over the full range.

    Pillow's own conversion clips these to 0-255 instead of scaling, which turns a 16-bit
    scan of a white sheet into a blank white picture.
    """
    if img.mode not in ("I", "F") and not img.mode.startswith("I;16"):
        return img
    values = np.asarray(img, dtype=np.float64)
    top = float(values.max()) if values.size else 0.0
    # the container's range, not the picture's own: a dark scan must stay dark
    full = 1.0 if img.mode == "F" and top <= 1.0 else 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
    return Image.fromarray((np.clip(values / full, 0.0, 1.0) * 255.0).round().astype(np.uint8), mode="L")


def load_image(path: str | Path, channels: int, size: int, *, polarity: bool = True) -> np.ndarray:
    """A user image as float32 in [0, 1]: (size, size) for 1 channel, (size, size, 3) for RGB.

    For one-channel domains the shapes must come out bright on dark (as renders are): with
    `polarity`, an image whose border is mostly bright (dark drawing on light paper) is
    inverted.
    """
    array = np.asarray(read_rgb(path))  # 8-bit: a 48 MP photo took 6 s to pad and shrink as floats
    if float(array.max()) - float(array.min()) < 0.05 * 255:
        raise TreediffError(f"{path} is blank (a single flat colour); nothing to reconstruct")
    image = prepare_array(array, channels, size, polarity=polarity)
    if channels == 1 and not (image > 0.5).any():
        # Faint marks only (a blank ruled page, a pale pencil line): the goal sees an empty
        # picture, which any program drawing nothing "solves".
        raise TreediffError(f"no shape found in {path}: shrunk to {size} px, nothing in it has half of full contrast "
                            f"with the background (a line drawing? try --sketch)")
    return image


def prepare_array(array: np.ndarray, channels: int, size: int, *, polarity: bool = True) -> np.ndarray:
    """Float (or uint8) RGB or grey array -> the domain's input: square, `size`, channels, polarity."""
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    u8 = array if array.dtype == np.uint8 else None
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]]).reshape(-1, array.shape[-1])
    background = np.median(border.astype(np.float32) / 255.0 if u8 is not None else border, axis=0)
    if u8 is None:
        u8 = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    h, w = u8.shape[:2]
    if h != w:  # pad with the background colour so shapes keep their aspect ratio
        side = max(h, w)
        padded = np.empty((side, side, 3), dtype=np.uint8)
        padded[:] = (np.clip(background, 0, 1) * 255).round().astype(np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        padded[top:top + h, left:left + w] = u8
        u8 = padded
    img = Image.fromarray(u8)
    if img.size[0] != size:
        img = img.resize((size, size), Image.Resampling.LANCZOS if img.size[0] > size else Image.Resampling.BILINEAR)
    out = np.asarray(img, dtype=np.float32) / 255.0
    if channels == 3:
        return out
    grey = out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if polarity and float(np.mean(background)) > 0.5:
        grey = 1.0 - grey
    return grey


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def save_png(image: np.ndarray, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image)).save(path)


def as_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def strip(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Images side by side on a grey background (for noise chains and comparisons)."""
    rgb = [as_rgb(im) for im in images]
    h = max(im.shape[0] for im in rgb)
    w = sum(im.shape[1] for im in rgb) + gap * (len(rgb) - 1)
    out = np.full((h, w, 3), 0.5, dtype=np.float32)
    x = 0
    for im in rgb:
        out[:im.shape[0], x:x + im.shape[1]] = im
        x += im.shape[1] + gap
    return out
