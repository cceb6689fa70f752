"""Image preparation: whatever a person gives us becomes one 8-bit PNG or JPEG of at most
2048x2048 that shows what they saw, or an ImageError that says why not."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, JpegImagePlugin
from support import images

from desktop_vlm.core.errors import ExitCode, ImageError
from desktop_vlm.core.imageprep import MAX_SIDE, PreparedImage, RawImage, prepare_image, target_size

DATA_URL = re.compile(r"^data:image/(png|jpeg);base64,[A-Za-z0-9+/]+=*$")


def prepared(source: object, **kwargs: object) -> tuple[PreparedImage, Image.Image]:
    """The result and its decoded pixels (a palette PNG as the colours a viewer shows)."""
    result = prepare_image(source, **kwargs)
    out = images.decode(result.data)
    # Every result, whatever the input: what the API accepts, and what it claims to be.
    assert out.format == result.format_name
    assert result.mime == f"image/{out.format.lower()}"
    assert out.mode in ("L", "RGB", "P"), out.mode
    assert (out.mode == "P") == result.encoding.startswith("png palette"), result.encoding
    assert out.size == (result.width, result.height)
    assert max(out.size) <= MAX_SIDE
    return result, out.convert("RGB") if out.mode == "P" else out


def grey(pixel: int | tuple[int, ...]) -> float:
    """Brightness 0..255 of an L or RGB pixel."""
    if isinstance(pixel, int):
        return float(pixel)
    return sum(pixel[:3]) / 3


def dark_left_light_right(size: tuple[int, int] = (64, 32)) -> Image.Image:
    img = Image.new("RGB", size, (230, 230, 230))
    ImageDraw.Draw(img).rectangle((0, 0, size[0] // 2 - 1, size[1]), fill=(20, 20, 20))
    return img


# --- every Pillow mode reaches 8-bit L or RGB -----------------------------------------------

MODE_FILES = [
    ("1", "PNG"),
    ("L", "PNG"),
    ("P", "PNG"),
    ("P", "GIF"),
    ("RGB", "PNG"),
    ("RGBA", "PNG"),
    ("LA", "PNG"),
    ("PA", "TIFF"),
    ("I;16", "PNG"),
    ("I;16", "TIFF"),
    ("I", "TIFF"),
    ("F", "TIFF"),
    ("CMYK", "JPEG"),
    ("CMYK", "TIFF"),
    ("YCbCr", "TIFF"),
    ("LAB", "TIFF"),
    ("RGB", "WEBP"),
    ("RGB", "BMP"),
    ("L", "TGA"),
    ("RGB", "PPM"),
]


def _in_mode(img: Image.Image, mode: str) -> Image.Image:
    if mode in ("I;16", "I"):
        return img.convert("L").convert("I").point(lambda v: v * 257).convert(mode)
    if mode == "F":
        return img.convert("L").convert("F")
    if mode == "PA":
        pa = Image.merge("PA", img.convert("LA").split())
        pa.putpalette([v for i in range(256) for v in (i, i, i)])
        return pa
    return img.convert(mode)


@pytest.mark.parametrize(("mode", "fmt"), MODE_FILES, ids=[f"{m}-{f}" for m, f in MODE_FILES])
def test_every_mode_becomes_an_8bit_image_that_still_shows_the_picture(mode: str, fmt: str) -> None:
    # GIVEN a picture with a dark left half and a light right half, stored in ``mode``
    img = _in_mode(dark_left_light_right(), mode)
    data = images.encode(img, fmt)
    assert images.decode(data).mode == mode  # the file really is in that mode
    # WHEN it is prepared
    result, out = prepared(data)
    # THEN it is 8-bit PNG (small image), the same size, and the halves are still dark/light
    assert result.mime == "image/png"
    assert out.size == (64, 32)
    if mode in ("1", "L", "LA", "I;16", "I", "F"):
        assert out.mode == "L", "a grey image was sent as three identical colour channels"
    assert grey(out.getpixel((5, 16))) < 80, "the dark half is not dark"
    assert grey(out.getpixel((58, 16))) > 170, "the light half is not light"


def test_16bit_grey_png_keeps_its_gradient_instead_of_clipping_to_white() -> None:
    # GIVEN a 16-bit grey PNG whose values run from 0 to 65535 left to right
    _, out = prepared(images.gradient_16bit_png(256, 4))
    # THEN the 8-bit result runs from black to white through the greys
    row = [out.getpixel((x, 1)) for x in range(256)]
    assert out.mode == "L"
    assert row[0] <= 1 and row[-1] >= 254
    assert 120 <= row[128] <= 136
    assert row == sorted(row), "the gradient is not monotonic"
    assert len(set(row)) > 200, "the gradient collapsed to a few levels"


def test_32bit_integer_image_keeps_its_gradient() -> None:
    _, out = prepared(images.gradient_32bit_tiff(256, 4, high=65535))
    row = [out.getpixel((x, 1)) for x in range(256)]
    assert row[0] <= 1 and row[-1] >= 254 and 120 <= row[128] <= 136


def test_float_image_is_stretched_to_the_full_range() -> None:
    # GIVEN a float image with values from -1 to 1 (nothing inside 0..255 would be visible)
    _, out = prepared(images.gradient_float_tiff(256, 4))
    row = [out.getpixel((x, 1)) for x in range(256)]
    assert row[0] <= 1 and row[-1] >= 254 and 120 <= row[128] <= 136


# --- transparency ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fmt"), [("RGBA", "PNG"), ("LA", "PNG"), ("PA", "TIFF"), ("RGBA", "WEBP")]
)
def test_black_glyph_on_transparent_stays_visible_on_white(mode: str, fmt: str) -> None:
    # GIVEN a black square on a transparent background whose hidden colour is also black
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = images.encode(images.glyph_on_transparent(mode), fmt, **params)
    # WHEN it is prepared
    _, out = prepared(data)
    # THEN the background is white (flattened) and the glyph is black
    assert grey(out.getpixel((2, 2))) >= 250, "transparent background did not become white"
    assert grey(out.getpixel((32, 24))) <= 5, "the glyph is not black"


def test_palette_image_with_transparent_index_is_flattened_onto_white() -> None:
    _, out = prepared(images.glyph_on_transparent_palette())
    assert grey(out.getpixel((2, 2))) >= 250
    assert grey(out.getpixel((32, 24))) <= 5


def test_half_transparent_black_becomes_mid_grey() -> None:
    # Alpha is blended, not thresholded: 50% black over white is grey.
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 128))
    _, out = prepared(images.encode(img, "PNG"))
    assert 120 <= grey(out.getpixel((8, 8))) <= 135


def test_opaque_rgba_keeps_its_colours() -> None:
    img = Image.new("RGBA", (16, 16), (10, 200, 30, 255))
    _, out = prepared(images.encode(img, "PNG"))
    assert out.mode == "RGB" and out.getpixel((8, 8)) == (10, 200, 30)


# --- EXIF orientation --------------------------------------------------------------------------


def _is_marker(pixel: tuple[int, ...]) -> bool:
    r, g, b = pixel[:3]
    return r > 200 and g < 70 and b < 70


def _is_white(pixel: tuple[int, ...]) -> bool:
    return min(pixel[:3]) > 200


def _corners(img: Image.Image) -> dict[str, tuple[int, ...]]:
    w, h = img.size
    inset = 5
    return {
        "top-left": img.getpixel((inset, inset)),
        "top-right": img.getpixel((w - 1 - inset, inset)),
        "bottom-left": img.getpixel((inset, h - 1 - inset)),
        "bottom-right": img.getpixel((w - 1 - inset, h - 1 - inset)),
    }


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize(
    ("orientation", "size", "corner"),
    [
        (1, (120, 80), "top-left"),
        (3, (120, 80), "bottom-right"),
        (6, (80, 120), "top-right"),  # camera held upright: rotate 90 degrees clockwise
        (8, (80, 120), "bottom-left"),  # rotate 90 degrees counter-clockwise
    ],
)
def test_exif_orientation_rotates_the_pixels(
    fmt: str, orientation: int, size: tuple[int, int], corner: str
) -> None:
    # GIVEN a 120x80 image with a red marker in its stored top-left corner, and an EXIF
    # orientation telling viewers how to turn it
    data = images.with_orientation(orientation, fmt, (120, 80))
    # WHEN it is prepared
    result, out = prepared(data)
    # THEN the pixels are turned the way a viewer shows them, and the marker is where the
    # person sees it
    assert out.size == size
    assert (result.source_width, result.source_height) == size
    corners = _corners(out.convert("RGB"))
    assert _is_marker(corners.pop(corner)), f"marker not in the {corner} corner"
    assert all(_is_white(p) for p in corners.values()), corners


def test_orientation_of_a_large_jpeg_also_turns_the_declared_source_size() -> None:
    # GIVEN a 5000x2500 JPEG (decoded at reduced scale) that says "rotate 90 degrees"
    data = images.with_orientation(6, "JPEG", (5000, 2500))
    result, out = prepared(data)
    # THEN both the result and the declared source size are portrait
    assert (result.source_width, result.source_height) == (2500, 5000)
    assert out.size == (1024, 2048)
    assert _is_marker(out.convert("RGB").getpixel((1024 - 30, 30)))
    assert result.describe().startswith("2500x5000 → 1024x2048 ")


# --- downscaling -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4096, 1024), (2048, 512)),
        ((1024, 4096), (512, 2048)),
        ((1, 100_000), (1, 2048)),
        ((100_000, 1), (2048, 1)),
        ((2049, 2049), (2048, 2048)),
        ((3000, 7), (2048, 5)),
    ],
)
def test_large_images_shrink_so_no_side_exceeds_2048_with_aspect_kept(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    img = Image.new("L", size, 200)
    result, out = prepared(images.encode(img, "PNG"))
    assert out.size == expected
    assert (result.source_width, result.source_height) == size
    assert out.getpixel((0, 0)) == 200


def test_9000x6000_photo_is_accepted_and_shrunk() -> None:
    # GIVEN a 54-megapixel JPEG, red on the left and blue on the right
    img = Image.new("RGB", (9000, 6000), (220, 0, 0))
    img.paste((0, 0, 220), (4500, 0, 9000, 6000))
    result, out = prepared(images.encode(img, "JPEG", quality=80))
    assert out.size == (2048, 1365)
    assert (result.source_width, result.source_height) == (9000, 6000)
    red, blue = out.convert("RGB").getpixel((200, 600)), out.convert("RGB").getpixel((1800, 600))
    assert red[0] > 180 and red[2] < 60
    assert blue[2] > 180 and blue[0] < 60


@pytest.mark.parametrize("size", [(2048, 2048), (2048, 10), (10, 2048), (300, 200), (1, 1)])
def test_images_within_the_limit_are_not_resized(size: tuple[int, int]) -> None:
    img = images.noise("RGB", size, seed=1)
    result, out = prepared(images.encode(img, "PNG"), image_format="png")
    assert out.size == size
    assert result.describe().startswith(f"{size[0]}x{size[1]} PNG")
    assert out.tobytes() == img.tobytes(), "pixels changed although no resize was needed"


def test_target_size_rounds_and_never_reaches_zero() -> None:
    assert target_size(9000, 6000) == (2048, 1365)
    assert target_size(100_000, 1) == (2048, 1)
    assert target_size(2048, 2048) == (2048, 2048)
    assert target_size(1000, 500, max_side=100) == (100, 50)


def test_a_smaller_max_side_is_honoured() -> None:
    _, out = prepared(images.encode(Image.new("RGB", (1000, 400)), "PNG"), max_side=500)
    assert out.size == (500, 200)


# --- output encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["png", "jpeg", "auto"])
def test_data_url_is_well_formed_and_carries_exactly_the_bytes(image_format: str) -> None:
    result, _ = prepared(
        images.encode(images.noise("RGB", (300, 200), 2), "PNG"), image_format=image_format
    )
    assert DATA_URL.match(result.data_url)
    header, payload = result.data_url.split(",", 1)
    assert header == f"data:{result.mime};base64"
    assert base64.b64decode(payload, validate=True) == result.data


def test_jpeg_output_keeps_full_colour_resolution() -> None:
    # GIVEN thin red text-like lines on blue, where 4:2:0 subsampling would smear the colour
    img = Image.new("RGB", (400, 300), (0, 0, 200))
    draw = ImageDraw.Draw(img)
    for x in range(0, 400, 3):
        draw.line((x, 0, x, 300), fill=(255, 0, 0))
    result, out = prepared(images.encode(img, "PNG"), image_format="jpeg")
    assert result.mime == "image/jpeg"
    assert JpegImagePlugin.get_sampling(out) == 0  # 4:4:4
    r, _, b = out.getpixel((3, 150))
    assert r > 180 and b < 100, "a one-pixel red line lost its colour"


def test_auto_sends_noise_as_jpeg_and_a_sparse_screen_as_an_exact_palette_png() -> None:
    # GIVEN noise (no palette can hold it) and a white screen with a line of black text
    photo = prepare_image(images.encode(images.noise("RGB", (1300, 1000), 3), "PNG"))
    screen = Image.new("RGB", (1300, 1000), (255, 255, 255))
    ImageDraw.Draw(screen).text((10, 10), "File  Edit  View", fill=(0, 0, 0))
    sent = prepare_image(images.encode(screen, "PNG"))
    # THEN the noise is a JPEG, and the screen's few colours go as they are
    assert photo.mime == "image/jpeg"
    assert sent.mime == "image/png" and sent.encoding.startswith("png palette exact")
    assert images.decode(sent.data).convert("RGB").tobytes() == screen.tobytes()


@pytest.mark.parametrize("image_format", ["png", "jpeg"])
def test_a_format_asked_for_by_name_is_what_comes_out(image_format: str) -> None:
    # GIVEN a screen with two colours, which "auto" would send as a palette PNG
    screen = Image.new("RGB", (1300, 1000), (255, 255, 255))
    ImageDraw.Draw(screen).rectangle((0, 0, 600, 1000), fill=(20, 40, 200))
    # WHEN "png" or "jpeg" is asked for
    result, out = prepared(images.encode(screen, "PNG"), image_format=image_format)
    # THEN it is lossless truecolour PNG, or JPEG 4:4:4, as before content-aware encoding
    assert result.encoding == ("png" if image_format == "png" else "jpeg q90 4:4:4")
    assert out.mode == "RGB"


def test_unknown_output_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="image_format"):
        prepare_image(images.encode(Image.new("L", (4, 4)), "PNG"), image_format="gif")


# --- inputs in other formats, animated, with big metadata -----------------------------------


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("WEBP", {"lossless": True}),
        ("TIFF", {}),
        ("BMP", {}),
        ("GIF", {}),
        ("PNG", {}),
        ("ICO", {"sizes": [(48, 32)]}),
        ("PPM", {}),
        ("TGA", {}),
    ],
)
def test_other_input_formats_are_read(fmt: str, params: dict, tmp_path: Path) -> None:
    img = Image.new("RGB", (48, 32), (0, 102, 204))
    path = tmp_path / f"picture.{fmt.lower()}"
    path.write_bytes(images.encode(img, fmt, **params))
    _, out = prepared(path)
    assert out.size == (48, 32)
    assert out.convert("RGB").getpixel((10, 10)) == (0, 102, 204)


def test_path_given_as_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "shot.png"
    path.write_bytes(images.encode(Image.new("L", (5, 5), 7), "PNG"))
    _, out = prepared(str(path))
    assert out.getpixel((2, 2)) == 7


def test_animated_gif_gives_its_first_frame() -> None:
    data = images.animated_gif([(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    assert images.decode(data).n_frames == 3
    _, out = prepared(data)
    assert out.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


def test_animated_gif_damaged_after_its_first_frame_still_gives_the_first_frame() -> None:
    data = images.animated_gif([(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    _, out = prepared(data[: len(data) - 30])
    assert out.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


def test_huge_exif_block_does_not_stop_the_image() -> None:
    data = images.with_huge_exif()
    assert len(data) > 60_000
    _, out = prepared(data)
    r, g, b = out.convert("RGB").getpixel((20, 15))
    assert r < 20 and 110 < g < 145 and b > 235


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow's own warning
def test_malformed_exif_is_ignored() -> None:
    img = Image.new("RGB", (20, 10), (0, 200, 0))
    data = images.encode(img, "JPEG", exif=b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff garbage")
    _, out = prepared(data)
    assert out.size == (20, 10)


# --- hostile and broken input ------------------------------------------------------------------

SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
HTML = b"<!DOCTYPE html>\n<html><body><img src='x.png'></body></html>"


def _truncated(fmt: str) -> bytes:
    data = images.encode(images.noise("RGB", (200, 150), 4), fmt)
    return data[: len(data) // 2]


HOSTILE = {
    "bomb-30000x30000": (lambda _: images.png_declaring(30000, 30000), "too large to open safely"),
    "bomb-12000x12000": (lambda _: images.png_declaring(12000, 12000), "(12000x12000)"),
    "truncated-png": (lambda _: _truncated("PNG"), "damaged or truncated"),
    "truncated-jpeg": (lambda _: _truncated("JPEG"), "damaged or truncated"),
    "zero-bytes": (lambda _: b"", "empty (0 bytes)"),
    "zero-byte-file": (lambda p: _file(p, "empty.png", b""), "empty.png is empty (0 bytes)"),
    "text": (lambda p: _file(p, "notes.png", b"Just some notes\nnot a picture\n"), "text"),
    "svg": (lambda _: SVG, "SVG"),
    "pdf": (lambda _: PDF, "PDF"),
    "html": (lambda _: HTML, "HTML"),
    "directory": (lambda p: p, "is a folder"),
    "missing": (lambda p: p / "nowhere.png", "nowhere.png does not exist"),
    "random-bytes": (lambda _: bytes.fromhex("8f3ac1") + bytes(range(256)) * 4, "not an image"),
}


def _file(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_input_is_refused_with_a_message_a_person_understands(
    case: str, tmp_path: Path
) -> None:
    build, expected = HOSTILE[case]
    source = build(tmp_path)
    with pytest.raises(ImageError) as caught:
        prepare_image(source)
    message = str(caught.value)
    assert expected in message
    assert caught.value.exit_code == ExitCode.IMAGE
    assert "\n" not in message and "Traceback" not in message
    assert len(message) < 200


def test_image_below_the_promised_pixel_limit_is_not_called_a_bomb() -> None:
    # GIVEN a PNG declaring 10000x10000 (100 MP, within the 120 MP the message promises) whose
    # data is missing: it must be refused as damaged, not as too large
    with pytest.raises(ImageError) as caught:
        prepare_image(images.png_declaring(10000, 10000))
    assert "damaged or truncated" in str(caught.value)
    assert "too large" not in str(caught.value)


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, "secret.png", images.encode(Image.new("L", (2, 2)), "PNG"))
    path.chmod(0)
    try:
        if path.read_bytes():  # running as root: permissions do not apply
            pytest.skip("root can read any file")
    except PermissionError:
        pass
    with pytest.raises(ImageError, match="permission denied"):
        prepare_image(path)


# --- raw pixels from a screen capture --------------------------------------------------------


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    return (x * 20 % 256, y * 30 % 256, (x + y) * 7 % 256, 255)


@pytest.mark.parametrize("order", ["BGRA", "RGBA"])
@pytest.mark.parametrize("unpadded_last_row", [False, True])
def test_raw_pixels_with_row_padding_come_out_right(order: str, unpadded_last_row: bool) -> None:
    # GIVEN 7x5 pixels in rows of 40 bytes (28 bytes of pixels, 12 of padding), as QImage and
    # screen grabbers lay them out
    width, height, stride = 7, 5, 40
    data = images.raw_pixels(width, height, stride, order, _pixel)
    if unpadded_last_row:
        data = data[: stride * (height - 1) + width * 4]
    # WHEN it is prepared
    result, out = prepared(RawImage(width, height, data, order, stride))
    # THEN every pixel has the colour it had on screen (no channel swap, no padding shown)
    assert (result.width, result.height) == (width, height)
    assert (result.source_width, result.source_height) == (width, height)
    for x, y in [(0, 0), (6, 0), (3, 2), (0, 4), (6, 4)]:
        assert out.getpixel((x, y)) == _pixel(x, y)[:3], (x, y)


def test_raw_pixels_with_transparency_are_flattened_onto_white() -> None:
    data = images.raw_pixels(4, 4, 16, "BGRA", lambda x, y: (0, 0, 0, 0 if x < 2 else 255))
    _, out = prepared(RawImage(4, 4, data, "BGRA"))
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((3, 3)) == (0, 0, 0)


def test_large_raw_capture_is_shrunk() -> None:
    data = bytes([40, 80, 160, 255]) * (5120 * 1440)
    result, out = prepared(RawImage(5120, 1440, data, "BGRA"))
    assert out.size == (2048, 576)
    assert (result.source_width, result.source_height) == (5120, 1440)
    assert out.getpixel((1000, 300)) == (160, 80, 40)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (RawImage(0, 10, b"", "BGRA"), "empty"),
        (RawImage(10, 10, b"\0" * 399, "BGRA"), "incomplete"),
        (RawImage(10, 10, b"\0" * 400, "BGRA", stride=48), "incomplete"),
        (RawImage(20000, 20000, b"", "BGRA"), "too large"),
    ],
)
def test_broken_raw_pixels_are_refused(raw: RawImage, expected: str) -> None:
    with pytest.raises(ImageError, match=expected):
        prepare_image(raw)


# --- properties --------------------------------------------------------------------------------

PROPERTY_MODES = {
    "1": ["PNG", "TIFF", "BMP"],
    "L": ["PNG", "JPEG", "TIFF"],
    "P": ["PNG", "GIF"],
    "RGB": ["PNG", "JPEG", "WEBP", "TIFF", "BMP"],
    "RGBA": ["PNG", "WEBP", "TIFF"],
    "LA": ["PNG", "TIFF"],
    "PA": ["TIFF"],
    "I;16": ["PNG", "TIFF"],
    "I": ["TIFF"],
    "F": ["TIFF"],
    "CMYK": ["JPEG", "TIFF"],
    "YCbCr": ["TIFF"],
}


@st.composite
def _image_specs(draw: st.DrawFn) -> tuple[str, str, tuple[int, int], int]:
    """(mode, file format, size, seed): small to print when a case fails."""
    mode = draw(st.sampled_from(sorted(PROPERTY_MODES)))
    fmt = draw(st.sampled_from(PROPERTY_MODES[mode]))
    long_side = draw(st.integers(1, 4500))
    short_side = draw(st.integers(1, 40))
    size = (long_side, short_side) if draw(st.booleans()) else (short_side, long_side)
    return mode, fmt, size, draw(st.integers(0, 2**16))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=_image_specs(), image_format=st.sampled_from(["auto", "png", "jpeg"]))
def test_any_size_and_mode_gives_an_image_within_the_limit(
    spec: tuple[str, str, tuple[int, int], int], image_format: str
) -> None:
    mode, fmt, (width, height), seed = spec
    data = images.encode(images.noise(mode, (width, height), seed), fmt)
    # Valid images of any mode and size are all accepted (so nothing but ImageError, and
    # not even that).
    result, _ = prepared(data, image_format=image_format)
    assert max(result.width, result.height) <= MAX_SIDE
    assert (result.source_width, result.source_height) == (width, height)
    assert (result.width, result.height) == target_size(width, height)
    assert DATA_URL.match(result.data_url)


_SEEDS = [
    images.encode(images.noise("RGB", (40, 30), 5), "PNG"),
    images.encode(images.noise("RGB", (40, 30), 6), "JPEG"),
    images.animated_gif([(255, 0, 0), (0, 0, 255)]),
    images.encode(images.noise("RGBA", (40, 30), 7), "WEBP"),
    images.encode(images.noise("RGB", (40, 30), 8), "TIFF"),
    images.encode(images.noise("RGB", (40, 30), 9), "BMP"),
    images.with_orientation(6, "JPEG", (40, 30)),
    images.encode(Image.new("RGB", (16, 16)), "ICO"),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt TIFF tags
@settings(max_examples=300, deadline=None)
@given(
    seed=st.sampled_from(range(len(_SEEDS))),
    cut=st.one_of(st.none(), st.integers(1, 10_000)),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
)
def test_damaged_files_raise_only_image_error(
    seed: int, cut: int | None, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(_SEEDS[seed])
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data) or 1]
    try:
        prepared(bytes(data))
    except ImageError as exc:
        assert str(exc)
