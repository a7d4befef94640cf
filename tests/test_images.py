"""Reading user images (checks, compositing, padding, polarity) and writing pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from treediff import images
from treediff.domains import get_domain
from treediff.errors import TreediffError
from treediff.images import as_rgb, load_image, prepare_array, save_png, strip, to_uint8
from treediff.preprocess import load_photo


def write(path, array: np.ndarray, mode: str | None = None):
    Image.fromarray(array, mode).save(path)
    return path


@pytest.mark.parametrize("setup,message", [
    (lambda p: None, "image not found"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png"), "cannot read"),
    (lambda p: write(p, np.full((16, 16, 3), 200, np.uint8)), "is blank"),
    (lambda p: p.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), "HEIC/HEIF .* JPEG or PNG"),
])
def test_bad_images_are_explained(tmp_path, setup, message):
    path = tmp_path / "in.png"
    setup(path)
    with pytest.raises(TreediffError, match=message):
        load_image(path, 1, 32)


def test_a_picture_of_faint_lines_only_has_no_shape(tmp_path):
    """A blank ruled page: its lines fade to under half contrast at the model's size, the
    goal's masks are empty, and before, a program drawing nothing "solved" it."""
    page = np.full((480, 640, 3), 250, np.uint8)
    page[40::32] = (120, 160, 215)
    page[41::32] = (120, 160, 215)
    with pytest.raises(TreediffError, match="no shape found .* try --sketch"):
        load_image(write(tmp_path / "ruled.png", page), 1, 64)
    page[200:280, 250:390] = 0  # a shape drawn on it
    assert (load_image(write(tmp_path / "box.png", page), 1, 64) > 0.5).any()


def test_decompression_bomb_limit(tmp_path, monkeypatch):
    path = write(tmp_path / "big.png", np.zeros((40, 50), np.uint8))
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(TreediffError, match="40x50|50x40"):
        load_image(path, 1, 32)


def test_a_picture_pillow_refuses_as_a_bomb_is_explained(tmp_path, monkeypatch):
    """Pillow raises its own DecompressionBombError in `Image.open` for pictures past twice
    its limit (178 megapixels by default), before treediff reads the size from the header."""
    from PIL import Image

    path = write(tmp_path / "huge.png", np.zeros((40, 50), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(TreediffError, match="megapixels; the limit is"):
        load_image(path, 1, 32)


def test_a_picture_pillow_warns_about_is_refused_without_its_warning(tmp_path, monkeypatch):
    """Between Pillow's limit and twice it (89-178 megapixels by default) `Image.open` warns
    on stderr; treediff's own, lower limit refuses the picture, so the warning would only
    add a line of noise before treediff's one-line message."""
    import warnings

    path = write(tmp_path / "huge.png", np.zeros((40, 50), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail the test
        with pytest.raises(TreediffError, match="megapixels; the limit is"):
            load_image(path, 1, 32)


def test_transparency_is_composited_over_white(tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)  # fully transparent ...
    rgba[8:24, 8:24] = (255, 0, 0, 255)  # ... except an opaque red square
    image = load_image(write(tmp_path / "a.png", rgba, "RGBA"), 3, 32)
    assert image.shape == (32, 32, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image[0, 0], (1, 1, 1))
    np.testing.assert_allclose(image[16, 16], (1, 0, 0))


def test_one_channel_polarity_makes_shapes_bright(tmp_path):
    paper = np.full((32, 32), 255, np.uint8)
    paper[8:24, 8:24] = 0  # a dark drawing on light paper
    path = write(tmp_path / "p.png", paper)
    image = load_image(path, 1, 32)
    assert image.shape == (32, 32)
    assert image[16, 16] == pytest.approx(1.0) and image[0, 0] == pytest.approx(0.0)
    raw = load_image(path, 1, 32, polarity=False)
    assert raw[16, 16] == pytest.approx(0.0) and raw[0, 0] == pytest.approx(1.0)


def test_non_square_images_are_padded_with_the_background():
    array = np.ones((20, 40, 3), np.float32)  # white, 20 rows x 40 columns
    array[5:15, 15:25] = 0.0  # a black 10 x 10 block in the middle
    out = prepare_array(array, 3, 40)
    assert out.shape == (40, 40, 3)
    assert np.all(out[:10] == 1.0) and np.all(out[30:] == 1.0)  # padding rows: background
    block = np.all(out < 0.5, axis=2)
    rows, cols = np.nonzero(block)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (15, 24, 15, 24)  # still square


def test_an_8_bit_picture_is_prepared_as_its_float_copy():
    """`load_image` pads and shrinks a photo as 8-bit (a 48 MP photo took 6 s as floats):
    the same input for the model, padding colour included."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(90, 160, 3), dtype=np.uint8)
    photo[:, :8] = 201  # part of the border one colour, the rest noise: the padding takes their median
    for channels in (1, 3):
        assert np.array_equal(prepare_array(photo, channels, 64),
                              prepare_array(photo.astype(np.float32) / 255.0, channels, 64))


def test_resizing_to_the_model_size():
    array = np.zeros((100, 100), np.float32)
    array[25:75, 25:75] = 1.0
    out = prepare_array(array, 1, 20, polarity=False)
    assert out.shape == (20, 20)
    assert out[10, 10] == pytest.approx(1.0, abs=0.02) and out[1, 1] == pytest.approx(0.0, abs=0.02)
    assert float(out.mean()) == pytest.approx(0.25, abs=0.02)


def test_rendered_pictures_survive_a_png_round_trip(tmp_path):
    csg = get_domain("csg2d")
    picture = csg.render_text("(- (Quad 8 8 6 5 H) (Circle 3 9 7))", 64)
    save_png(picture, tmp_path / "csg.png")
    assert csg.goal(picture, load_image(tmp_path / "csg.png", 1, 64))[0]
    save_png(1.0 - picture, tmp_path / "ink.png")  # the same drawing, black on white
    loaded = load_image(tmp_path / "ink.png", 1, 64)
    assert np.abs(loaded - picture).mean() < 0.01  # inverted back to bright shapes
    svg = get_domain("tinysvg")
    colour = svg.render_text("(Arrange h (Rect 4 4 red none 0) (Ellipse 3 3 blue none 0) 1)", 64)
    save_png(colour, tmp_path / "svg.png")
    assert svg.goal(colour, load_image(tmp_path / "svg.png", 3, 64))[0]


@pytest.mark.parametrize("kind", ["16-bit", "float"])
def test_a_deep_greyscale_scan_reads_like_its_8_bit_copy(tmp_path, kind):
    """Scanners write 16-bit (or float TIFF) greyscale; Pillow clips those to 255 (all white)."""
    picture = get_domain("csg2d").render_text("(- (Quad 8 8 6 5 H) (Circle 3 9 7))", 64)
    ink_on_paper = 1.0 - picture  # dark shapes on light paper, as a scan
    eight = write(tmp_path / "eight.png", to_uint8(ink_on_paper))
    if kind == "16-bit":
        deep = write(tmp_path / "deep.png", (ink_on_paper * 65535).round().astype(np.uint16))
    else:
        deep = write(tmp_path / "deep.tif", ink_on_paper.astype(np.float32))
    assert Image.open(deep).mode in ("I;16", "F")
    loaded = load_image(deep, 1, 64)
    assert np.abs(loaded - load_image(eight, 1, 64)).max() <= 1.5 / 255
    assert get_domain("csg2d").goal(picture, loaded)[0]


def test_a_phone_photo_is_read_the_way_its_exif_says_it_was_held(tmp_path):
    """Phones store the sensor's pixels plus an orientation tag; viewers turn by the tag."""
    picture = get_domain("csg2d").render_text("(- (Quad 8 8 6 5 H) (Circle 3 9 7))", 64)
    upright = Image.fromarray(to_uint8(picture))
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to display"
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.png", exif=exif.tobytes())
    loaded = load_image(tmp_path / "phone.png", 1, 64)
    assert np.abs(loaded - picture).max() <= 0.5 / 255  # PNG keeps 8 bits
    assert np.abs(loaded - np.rot90(picture)).mean() > 0.05  # the tag matters for this picture
    upright.save(tmp_path / "upright.png")  # sketch mode reads photos through the same door
    assert np.array_equal(load_photo(tmp_path / "phone.png"), load_photo(tmp_path / "upright.png"))


def test_to_uint8_clips_and_rounds():
    assert to_uint8(np.array([-0.5, 0.0, 0.5, 1.0, 2.0])).tolist() == [0, 0, 128, 255, 255]


def test_strip_places_images_side_by_side():
    grey = np.full((8, 8), 1.0, np.float32)
    colour = np.zeros((6, 8, 3), np.float32)
    out = strip([grey, colour], gap=4)
    assert out.shape == (8, 20, 3)
    assert np.all(out[:, :8] == 1.0)
    assert np.all(out[:, 8:12] == 0.5)  # the gap
    assert np.all(out[:6, 12:] == 0.0) and np.all(out[6:, 12:] == 0.5)
    assert as_rgb(grey).shape == (8, 8, 3)
