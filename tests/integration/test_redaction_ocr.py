"""Automatic redaction on a real reading: a screen rendered with a real font, read by the real
offline OCR engine, painted, and read again. What was sensitive must be unreadable afterwards;
the rest must read as before.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from desktop_vlm.core.ocr_types import OcrLine, OcrResult, OcrWord
from desktop_vlm.core.redaction import redact_image

rapidocr = pytest.importorskip("rapidocr")

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
EMAIL = "anna.berg@example.com"
CARD = "4111 1111 1111 1111"
KEY = "sk-proj-" + "".join(
    random.Random(5).choice(string.ascii_letters + string.digits) for _ in range(28)
)
PLAIN = ["Meeting notes for Tuesday", "The quick brown fox jumps over the lazy dog"]


def _box(quad) -> tuple[int, int, int, int]:
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    return int(min(xs)), int(min(ys)), int(round(max(xs))), int(round(max(ys)))


def _inside(inner: tuple, outer: tuple) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def read(engine, image: Image.Image) -> OcrResult:
    """rapidocr's reading (with word boxes) as the app's OcrResult."""
    # Screen text is upright; rapidocr's angle classifier sometimes turns a line of it upside
    # down and reads garbage ("SECRET_KEY=85pk..." came back as "SE=Bn"), so it is off.
    output = engine(image, use_cls=False, return_word_box=True)
    lines = []
    for text, quad, words in zip(output.txts, output.boxes, output.word_results, strict=True):
        ocr_words = tuple(OcrWord(w[0], _box(w[2]), float(w[1])) for w in words)
        lines.append(OcrLine(text, _box(quad), words=ocr_words))
    lines.sort(key=lambda line: line.box[1])
    return OcrResult("\n".join(line.text for line in lines), tuple(lines), "rapidocr", *image.size)


@pytest.fixture(scope="module")
def engine():
    if not FONT.exists():
        pytest.skip(f"{FONT} is not installed")
    return rapidocr.RapidOCR()


def test_redacted_screen_no_longer_shows_the_secrets_but_still_shows_the_rest(engine) -> None:
    # GIVEN a small screen of 16-px text: prose, an address, a card number and an API key
    texts = [PLAIN[0], f"Contact: {EMAIL}", f"Card {CARD} exp 12/27", f"OPENAI_API_KEY={KEY}"]
    texts.append(PLAIN[1])
    font = ImageFont.truetype(str(FONT), 16)
    screen = Image.new("RGB", (640, 30 * len(texts) + 20), (250, 250, 250))
    draw = ImageDraw.Draw(screen)
    for row, text in enumerate(texts):
        draw.text((12, 10 + 30 * row), text, fill=(25, 25, 25), font=font)
    before = read(engine, screen)
    assert EMAIL in before.text and KEY in before.text  # the engine can read them at all

    # WHEN it is redacted from its own reading
    painted, redaction = redact_image(screen, before)

    # THEN the address, the card and the key are covered, every glyph of them ...
    assert redaction.counts == {"email": 1, "card": 1, "secret": 1}
    for row, secret in ((1, EMAIL), (2, CARD), (3, KEY)):
        x = 12 + font.getlength(texts[row][: texts[row].index(secret)])
        ink = draw.textbbox((x, 10 + 30 * row), secret, font=font)
        assert any(_inside(ink, box) for box in redaction.boxes), (secret, ink, redaction.boxes)
    after = read(engine, painted).text
    squashed = after.replace(" ", "")
    assert "@" not in after and "example" not in after
    assert "4111" not in squashed and "1111" not in squashed
    body = KEY.removeprefix("sk-proj-")
    leaked = [body[i : i + 5] for i in range(len(body) - 4) if body[i : i + 5] in squashed]
    assert leaked == [] and "sk-" not in after
    # ... and the prose and labels around them still read as before
    for text in PLAIN:
        assert text in after
    assert "Contact" in after and "Card" in after and "exp 12/27" in after
