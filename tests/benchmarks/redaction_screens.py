"""Automatic redaction on rendered screens, read by a real OCR engine: how many sensitive lines
are found, how many have every glyph pixel covered, and how many harmless lines get a box.

    python tests/benchmarks/redaction_screens.py [--engine rapidocr|app] [--quick]

Twelve sensitive lines (addresses, phones, cards, IBANs, keys) and sixteen harmless ones that
look close (commit ids, dates, versions, amounts, paths, URLs, code) are drawn with DejaVu Sans,
DejaVu Sans Mono, Liberation Sans/Mono and DejaVu Serif at 12, 14 and 16 px, on light and dark
backgrounds. ``rapidocr`` reads them with rapidocr directly (angle classifier off: screen text
is upright), ``app`` with the app's own engine (desktop_vlm.services.ocr.read_text). A glyph
pixel "shows" when it survived painting and stands out from the background. Nothing asserted.
"""

from __future__ import annotations

import argparse
import logging
import random
import string
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from desktop_vlm.core.redaction import find_sensitive, redact_image  # noqa: E402

FONTS = "/usr/share/fonts/truetype"
FACES = (
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSansMono.ttf",
    "liberation2/LiberationSans-Regular.ttf",
    "liberation2/LiberationMono-Regular.ttf",
    "dejavu/DejaVuSerif.ttf",
)
_rng = random.Random(9)


def _key(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


_G, _A, _B, _O, _H = (
    _key(36),
    _key(16, string.ascii_uppercase + "234567"),
    *(_key(n) for n in (32, 40, 40)),
)
SENSITIVE = [  # (kind, line, the part that must be covered)
    ("email", "Reply to: j.doe-smith@mailbox.example.org", "j.doe-smith@mailbox.example.org"),
    ("phone", "Phone: +44 20 7946 0958", "+44 20 7946 0958"),
    ("phone", "Call us at (555) 123-4567 today", "(555) 123-4567"),
    ("card", "Card number 5555 5555 5555 4444", "5555 5555 5555 4444"),
    ("card", "Amex 3782 822463 10005 exp 04/28", "3782 822463 10005"),
    ("iban", "IBAN: DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ("iban", "GB29 NWBK 6016 1331 9268 19", "GB29 NWBK 6016 1331 9268 19"),
    ("secret", f"export GITHUB_TOKEN=ghp_{_G}", f"ghp_{_G}"),
    ("secret", f"aws_access_key_id = AKIA{_A}", f"AKIA{_A}"),
    ("secret", f"Authorization: Bearer {_B}", _B),
    ("secret", f"api_key: sk-{_O}", f"sk-{_O}"),
    ("secret", f"SECRET_KEY={_H}", _H),
]
HARMLESS = [
    "commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 (HEAD -> main, origin/main)",
    "Author: Anna Berg  Date: Tue Jan 31 10:30:15 2024 +0100",
    "Version 3.11.4 (tags/v3.11.4:d2340ef, Jun  7 2023, 05:45:37)",
    "Total: 1,234.56 EUR   VAT 19%: 197.11   Invoice INV-2024-001234",
    "/usr/lib/python3.11/site-packages/desktop_vlm/core/redaction/patterns.py",
    "https://docs.python.org/3/library/re.html#re.finditer",
    "def find_sensitive(result: OcrResult, *, pad: int = 2) -> list[Finding]:",
    "background-color: #1e1e2e; color: #cdd6f4; border-radius: 4px;",
    "id = 550e8400-e29b-41d4-a716-446655440000",
    "Order #12345678 shipped on 2024-02-03, parcel 1Z999AA10123456784",
    '192.168.178.23 - - [31/Jan/2024:10:30:15 +0100] "GET /index.html HTTP/1.1" 200 5123',
    "ISBN 978-3-16-148410-0, page 12 of 345, chapter 7.2.1",
    "The quick brown fox jumps over the lazy dog 1234567 times",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "npm install react@18.2.0 typescript@5.3.3 --save-dev",
    "Meeting 14:00-15:30 in room 2.014, dial-in code 4821 7733",
]


def reader(engine: str):
    if engine == "app":
        from desktop_vlm.services.ocr import read_text

        return read_text
    import rapidocr
    from test_redaction_ocr import read

    ocr = rapidocr.RapidOCR()
    return lambda image: read(ocr, image)


def screen(lines: list[str], font, size: int, dark: bool):
    background, ink = ((30, 30, 30), (220, 220, 220)) if dark else ((250, 250, 250), (20, 20, 20))
    row = int(size * 1.9)
    image = Image.new("RGB", (1100, row * len(lines) + 20), background)
    draw = ImageDraw.Draw(image)
    for index, text in enumerate(lines):
        draw.text((10, 10 + row * index), text, fill=ink, font=font)
    return image, draw, row, background


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("rapidocr", "app"), default="rapidocr")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    read = reader(args.engine)
    sizes = (16,) if args.quick else (12, 14, 16)
    total = found = covered = harmless_boxes = 0
    for face in FACES[:2] if args.quick else FACES:
        for size in sizes:
            font = ImageFont.truetype(f"{FONTS}/{face}", size)
            for dark in (False, True):
                image, draw, row, background = screen([s[1] for s in SENSITIVE], font, size, dark)
                painted, redaction = redact_image(image, read(image))
                for index, (kind, text, secret) in enumerate(SENSITIVE):
                    x = 10 + font.getlength(text[: text.index(secret)])
                    ink = tuple(
                        int(v) for v in draw.textbbox((x, 10 + row * index), secret, font=font)
                    )
                    before, after = image.crop(ink).load(), painted.crop(ink).load()
                    shows = sum(
                        1
                        for px in range(ink[2] - ink[0])
                        for py in range(ink[3] - ink[1])
                        if after[px, py] == before[px, py]
                        and sum(abs(a - b) for a, b in zip(after[px, py], background, strict=True))
                        > 90
                    )
                    hit = any(
                        f.kind == kind and f.box[1] <= ink[1] + 4 and f.box[3] >= ink[3] - 4
                        for f in redaction.findings
                    )
                    total, found, covered = total + 1, found + hit, covered + (shows == 0)
                    if not hit or shows:
                        print(f"  missed: {face} {size}px {'dark' if dark else 'light'} {kind}")
                harmless, *_ = screen(HARMLESS, font, size, dark)
                for finding in find_sensitive(read(harmless)):
                    harmless_boxes += 1
                    print(f"  harmless text covered: {face} {size}px {finding.kind}")
    screens = total // len(SENSITIVE)
    print("| engine | sensitive lines found | every glyph covered | harmless lines covered |")
    print("| --- | --- | --- | --- |")
    print(
        f"| {args.engine} | {found}/{total} | {covered}/{total} | "
        f"{harmless_boxes}/{screens * len(HARMLESS)} |"
    )


if __name__ == "__main__":
    main()
