"""Content-aware encoding: screens go as palette PNGs that keep every text edge, photographs as
JPEG, images with few colours exactly as they are, and nothing is scaled beyond the API's limit.
"""

from __future__ import annotations

import io
import math
import random

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageStat, JpegImagePlugin

from desktop_vlm.core.encoding import Content, classify, encode
from desktop_vlm.core.imageprep import MAX_SIDE, prepare_image

SYNTAX_COLOURS = [(0, 0, 0), (175, 0, 219), (0, 128, 0), (163, 21, 21), (0, 0, 255), (9, 134, 88)]
WORDS = ["def", "encode", "image", "format", "quality", "palette", "return", "screen", "photo"]


def screen_image(size: tuple[int, int] = (1920, 1080)) -> Image.Image:
    """An editor: title bar, dark file list, white pane of anti-aliased text in six colours."""
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, size[0], 40), fill=(0, 120, 212))
    draw.rectangle((0, 40, 300, max(40, size[1])), fill=(37, 37, 38))
    font = ImageFont.load_default(18)
    draw.text((12, 10), "File  Edit  Selection  View  Go  Run  Help", font=font, fill="white")
    rnd = random.Random(1)
    for row in range((size[1] - 60) // 25):
        y = 50 + row * 25
        draw.text((12, y), f"file_{row:02d}.py", font=font, fill=(204, 204, 204))
        x = 320
        for _ in range(10):
            word = rnd.choice(WORDS)
            draw.text((x, y), word, font=font, fill=rnd.choice(SYNTAX_COLOURS))
            x += int(draw.textlength(word + " ", font=font))
    return img


def photo_image(size: tuple[int, int] = (1600, 1000), seed: int = 0) -> Image.Image:
    """Smooth gradients with fine grain in every channel, as a camera picture has."""
    if size[0] * size[1] > 4_000_000:  # grain for 33 MP takes seconds: enlarge a smaller one
        small = photo_image((size[0] // 4, size[1] // 4), seed)
        return small.resize(size, Image.Resampling.BICUBIC)
    random.seed(seed)  # effect_noise draws from C's rand, seeded by nothing we control
    ramp = Image.linear_gradient("L").resize(size)
    ring = Image.radial_gradient("L").resize(size)
    grain = [Image.effect_noise(size, 60).filter(ImageFilter.GaussianBlur(1.5)) for _ in range(3)]
    channels = [
        ImageChops.add(ramp, grain[0], 2, 0),
        ImageChops.add(ring, grain[1], 2, 20),
        ImageChops.add(ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grain[2], 2, 40),
    ]
    return Image.merge("RGB", channels)


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mse = sum(ImageStat.Stat(diff).sum2) / (3 * a.width * a.height)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


# --- screens: a palette PNG that keeps the text ----------------------------------------------


def test_a_screen_of_text_becomes_a_palette_png_that_keeps_the_text_edges() -> None:
    # GIVEN a screen of anti-aliased text in six colours on flat panels (over 256 colours)
    screen = screen_image()
    assert screen.getcolors(256) is None
    # WHEN it is encoded by content
    result = encode(screen)
    out = decoded(result.data)
    # THEN it is a PNG with a palette, far smaller than the truecolour PNG
    assert result.mime == "image/png" and out.mode == "P"
    assert result.method == f"png palette {len(out.getpalette()) // 3}"
    truecolour = io.BytesIO()
    screen.save(truecolour, format="PNG")
    assert len(result.data) < 0.6 * truecolour.tell()
    # AND the flat colours are exact and the anti-aliased edges barely move
    shown = out.convert("RGB")
    for point in [(1000, 1070), (100, 1070), (1900, 5), (5, 5)]:  # white pane, panels, bar
        assert shown.getpixel(point) == screen.getpixel(point), point
    assert psnr(screen, shown) >= 45.0
    worst = ImageChops.difference(screen, shown).getextrema()
    assert max(high for _, high in worst) <= 40, "a text pixel changed colour visibly"


def test_each_text_colour_keeps_its_grey_levels_against_the_background() -> None:
    # GIVEN a screen whose text edges blend each of six colours into white
    screen = screen_image()
    out = decoded(encode(screen).data).convert("RGB")
    # WHEN the blends between each text colour and white are counted before and after
    pane = (320, 50, 1920, 1080)
    before, after = screen.crop(pane), out.crop(pane)
    for colour in SYNTAX_COLOURS:
        levels = _blend_levels(before, colour)
        kept = _blend_levels(after, colour)
        # THEN most of the levels survive (a 16-level ramp already reads as smooth text)
        assert len(kept) >= min(16, len(levels)), (colour, len(levels), len(kept))


@pytest.mark.parametrize("colour", [(255, 140, 0), (0, 190, 190), (120, 60, 30)])
def test_a_rare_colour_keeps_its_colour(colour: tuple[int, int, int]) -> None:
    # GIVEN a text screen with one small mark in a colour found nowhere else (a status dot,
    # 6x4 pixels: far too few to be chosen for the palette by frequency)
    screen = screen_image()
    ImageDraw.Draw(screen).rectangle((1500, 900, 1505, 903), fill=colour)
    # WHEN it is encoded as a palette PNG
    result = encode(screen)
    out = decoded(result.data).convert("RGB")
    # THEN the mark still shows its own colour, not the nearest text colour's
    assert result.method.startswith("png palette")
    shown = out.getpixel((1502, 901))
    assert max(abs(a - b) for a, b in zip(shown, colour, strict=True)) <= 15, shown


def _blend_levels(img: Image.Image, colour: tuple[int, int, int]) -> set[int]:
    """The distinct steps t (0..255) of colours on the line from ``colour`` to white."""
    steps = set()
    for _, pixel in img.getcolors(1 << 20) or []:
        # t for each channel that differs from white; a blend has the same t in all of them
        ts = [(255 - p) * 255 // (255 - c) for p, c in zip(pixel, colour, strict=True) if c != 255]
        if ts and max(ts) - min(ts) <= 6 and 8 < ts[0] < 247:
            steps.add(ts[0] // 4)
    return steps


# --- photographs and mixed content: JPEG ------------------------------------------------------


def test_a_photograph_becomes_a_jpeg_with_camera_chroma() -> None:
    photo = photo_image()
    assert classify(photo) is Content.PHOTO
    result = encode(photo, jpeg_quality=85)
    out = decoded(result.data)
    assert result.mime == "image/jpeg" and result.method == "jpeg q85 4:2:0"
    assert JpegImagePlugin.get_sampling(out) == 2  # 4:2:0
    assert psnr(photo, out) >= 30.0


def test_a_screen_with_a_photo_in_it_becomes_a_jpeg_with_full_colour_resolution() -> None:
    # GIVEN a text screen with a photograph over a third of it (an article, a desktop)
    mixed = screen_image()
    mixed.paste(photo_image((900, 700)), (900, 300))
    # WHEN it is encoded
    result = encode(mixed)
    # THEN it is JPEG 4:4:4: text may matter, and 4:2:0 would smear coloured text
    assert classify(mixed) is Content.MIXED
    assert result.method == "jpeg q90 4:4:4"
    assert JpegImagePlugin.get_sampling(decoded(result.data)) == 0


def test_a_screen_is_classified_as_a_screen() -> None:
    assert classify(screen_image()) is Content.SCREEN
    assert classify(screen_image().convert("L")) is Content.SCREEN


# --- few colours: exactly as they are ------------------------------------------------------


@pytest.mark.parametrize("near_twins", [False, True], ids=["distinct", "near-identical"])
def test_an_image_with_few_colours_comes_back_pixel_for_pixel(near_twins: bool) -> None:
    # GIVEN a 2000x1100 picture of 200 colours, some of them one level apart if near_twins
    rnd = random.Random(7)
    colours = [(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(150)]
    colours += [
        (64 + i % 7 * 30, 128, 200 + i % 2) if near_twins else colours[i] for i in range(50)
    ]
    colours = list(dict.fromkeys(colours))
    img = Image.new("RGB", (2000, 1100))
    draw = ImageDraw.Draw(img)
    for x in range(0, 2000, 10):
        for y in range(0, 1100, 10):
            draw.rectangle((x, y, x + 9, y + 9), fill=colours[(x * 7 + y * 3) // 10 % len(colours)])
    assert img.getcolors(256) is not None
    # WHEN it is prepared the way the app sends it
    result = prepare_image(_png_bytes(img))
    # THEN it is a palette PNG whose colours are exactly the picture's
    out = decoded(result.data)
    assert result.encoding.startswith("png palette exact") and out.mode == "P"
    assert out.convert("RGB").tobytes() == img.tobytes()


def test_small_images_stay_lossless_whatever_they_show() -> None:
    photo = photo_image((200, 200))
    result = encode(photo)
    assert result.method == "png"
    assert decoded(result.data).tobytes() == photo.tobytes()


# --- the size: the API's limit, never smaller, never larger ------------------------------------


@pytest.mark.parametrize(
    ("size", "fmt"),
    [
        ((3840, 2160), "PNG"),  # a 4K screen
        ((2049, 1000), "PNG"),
        ((5000, 2813), "JPEG"),  # decoded at reduced scale first (JPEG draft)
        ((8200, 4000), "JPEG"),
        ((1200, 6000), "PNG"),
    ],
)
def test_larger_images_shrink_to_exactly_the_limit_and_no_further(
    size: tuple[int, int], fmt: str
) -> None:
    # GIVEN a screen or a photograph larger than 2048 on its long side
    source = (screen_image if fmt == "PNG" else photo_image)(size)
    data = _png_bytes(source) if fmt == "PNG" else _jpeg_bytes(source)
    # WHEN it is prepared
    result = prepare_image(data)
    # THEN its long side is exactly 2048 and its short side keeps the proportion
    long_side, short_side = sorted((result.width, result.height), reverse=True)
    assert long_side == MAX_SIDE
    assert abs(short_side - min(size) * MAX_SIDE / max(size)) <= 1
    assert decoded(result.data).size == (result.width, result.height)


@pytest.mark.parametrize(
    ("size", "fmt"),
    [((2048, 1152), "PNG"), ((2047, 1000), "PNG"), ((800, 600), "JPEG"), ((120, 30), "PNG")],
)
def test_images_within_the_limit_keep_their_size(size: tuple[int, int], fmt: str) -> None:
    source = (screen_image if fmt == "PNG" else photo_image)(size)
    data = _png_bytes(source) if fmt == "PNG" else _jpeg_bytes(source)
    result = prepare_image(data)
    assert (result.width, result.height) == size
    assert decoded(result.data).size == size


def test_the_description_says_how_the_image_was_encoded() -> None:
    result = prepare_image(_png_bytes(screen_image((3840, 2160))))
    assert result.describe().startswith("3840x2160 → 2048x1152 PNG (palette ")


def _png_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _jpeg_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()
