"""Painting redaction boxes: solid, opaque, exactly where asked, on a copy; the same for the
boxes the rules found and the ones a person drew by hand."""

from __future__ import annotations

import random

import pytest
from PIL import Image, ImageChops, ImageDraw

from desktop_vlm.core.ocr_types import OcrLine, OcrResult, OcrWord
from desktop_vlm.core.redaction import paint_over, redact_image

WIDTH, HEIGHT = 800, 200


def card_reading() -> OcrResult:
    """A reading of "Card 4111 1111 1111 1111 exp" at 10 px per character."""
    text, x, words = "Card 4111 1111 1111 1111 exp", 20, []
    for word in text.split(" "):
        words.append(OcrWord(word, (x, 20, x + 10 * len(word), 38)))
        x += 10 * (len(word) + 1)
    line = OcrLine(text, (20, 20, x, 38), words=tuple(words))
    return OcrResult(text, (line,), width=WIDTH, height=HEIGHT)


def _busy_image(mode: str = "RGB", size: tuple[int, int] = (200, 120)) -> Image.Image:
    """An image with no two neighbouring pixels alike, so any stray paint shows."""
    rng = random.Random(3)
    img = Image.new("RGB", size)
    img.putdata(
        [
            (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            for _ in range(size[0] * size[1])
        ]
    )
    return img.convert(mode)


def _mask(size: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for left, top, right, bottom in boxes:
        draw.rectangle((left, top, right - 1, bottom - 1), fill=255)
    return mask


def _differences(a: Image.Image, b: Image.Image, where: Image.Image) -> tuple | None:
    """The bounding box of the pixels that differ between ``a`` and ``b`` where ``where`` is
    set (every channel counts, alpha too), or None when they are alike there."""
    diff = ImageChops.difference(a, b)
    return Image.composite(diff, Image.new(diff.mode, diff.size), where).getbbox(alpha_only=False)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_painting_fills_the_boxes_and_changes_nothing_else(mode: str) -> None:
    # GIVEN a busy image and two boxes (one reaching past the right edge)
    source = _busy_image(mode)
    before = source.copy()
    boxes = [(10, 10, 60, 30), (150, 80, 260, 100)]
    # WHEN they are painted over
    out = paint_over(source, boxes)
    # THEN every pixel inside a box is opaque black
    inside = _mask(source.size, [(10, 10, 60, 30), (150, 80, 200, 100)])
    black = Image.new(mode, source.size, "black")
    assert _differences(out, black, inside) is None
    # AND every pixel outside all boxes is unchanged
    assert _differences(out, source, ImageChops.invert(inside)) is None
    # AND the boxes did change something, and the source is untouched
    assert _differences(out, source, inside) is not None
    assert ImageChops.difference(source, before).getbbox(alpha_only=False) is None
    assert out is not source and out.mode == mode and out.size == source.size


def test_painting_honours_the_colour_and_right_bottom_are_exclusive() -> None:
    out = paint_over(_busy_image(), [(10, 10, 20, 20)], color=(255, 0, 255))
    assert out.getpixel((10, 10)) == (255, 0, 255) and out.getpixel((19, 19)) == (255, 0, 255)
    assert out.getpixel((20, 20)) != (255, 0, 255) and out.getpixel((9, 9)) != (255, 0, 255)


def test_boxes_drawn_by_hand_may_be_reversed_fractional_or_outside() -> None:
    # GIVEN boxes as an overlay might hand them over: dragged right-to-left, in fractions,
    # partly or wholly outside the image, empty
    source = _busy_image()
    boxes = [(40.6, 30.2, 20.4, 10.9), (-5, -5, 5, 5), (300, 300, 400, 400), (50, 50, 50, 60)]
    # WHEN they are painted
    out = paint_over(source, boxes)
    # THEN the drawn areas are covered, rounded outwards, and nothing else changed
    covered = _mask(source.size, [(20, 10, 41, 31), (0, 0, 5, 5)])
    assert ImageChops.difference(out, source).getbbox(alpha_only=False) == (0, 0, 41, 31)
    assert _differences(out, source, ImageChops.invert(covered)) is None
    assert out.getpixel((20, 10)) == (0, 0, 0) and out.getpixel((40, 30)) == (0, 0, 0)


def test_a_palette_image_comes_back_rgb_with_the_same_picture_outside_the_boxes() -> None:
    source = _busy_image().quantize(64)
    out = paint_over(source, [(0, 0, 10, 10)])
    assert out.mode == "RGB"
    reference = source.convert("RGB")
    reference.paste((0, 0, 0), (0, 0, 10, 10))
    assert ImageChops.difference(out, reference).getbbox(alpha_only=False) is None


def test_redact_image_paints_findings_and_hand_drawn_boxes_and_reports_both() -> None:
    # GIVEN an image, its OCR reading with a card number, and a box the person drew
    image = _busy_image(size=(WIDTH, HEIGHT))
    result = card_reading()
    # WHEN it is redacted
    out, redaction = redact_image(image, result, manual_boxes=[(500, 150, 520, 160)])
    # THEN both areas are black, and the summary says what was covered
    assert redaction.describe() == "2 areas covered: 1 card number, 1 area drawn by hand"
    for left, top, right, bottom in redaction.boxes:
        region = out.crop((left, top, right, bottom))
        assert region.getextrema() == ((0, 0), (0, 0), (0, 0))
    # AND the rest of the image is as it was
    outside = ImageChops.invert(_mask(image.size, list(redaction.boxes)))
    assert _differences(out, image, outside) is None


def test_redact_image_with_nothing_to_cover_returns_an_equal_copy() -> None:
    image = _busy_image()
    empty = OcrResult("The quick brown fox", (OcrLine("The quick brown fox", (0, 0, 190, 18)),))
    out, redaction = redact_image(image, empty)
    assert redaction.areas == 0 and out is not image
    assert ImageChops.difference(out, image).getbbox(alpha_only=False) is None
