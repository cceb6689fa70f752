"""A deterministic, text-heavy 3840x2160 "screenshot" for the encode benchmarks.

The left half looks like a dark code editor (monospace text in syntax colours, line numbers, a
sidebar), the right half like a web page (headings, paragraphs at several sizes, links, a table,
a coloured banner and a photo-like gradient). Text is rendered with anti-aliasing, as on a real
screen, so that downscaling and lossy coding have the edges a real capture has.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = (3840, 2160)
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
_WORDS = [
    "the",
    "image",
    "model",
    "request",
    "answer",
    "stream",
    "token",
    "window",
    "screen",
    "capture",
    "region",
    "prompt",
    "preset",
    "clipboard",
    "server",
    "latency",
    "budget",
    "pixel",
    "encode",
    "decode",
    "buffer",
    "render",
    "paint",
    "event",
    "queue",
    "thread",
    "signal",
    "socket",
    "timeout",
    "retry",
    "cache",
    "config",
    "profile",
    "history",
    "overlay",
    "tray",
    "display",
    "monitor",
    "scale",
    "ratio",
    "width",
    "height",
    "format",
    "quality",
    "legible",
    "glyph",
    "kerning",
]
_KEYWORDS = ("def", "return", "if", "for", "in", "import", "from", "class", "with", "not")


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for folder in _FONT_DIRS:
        path = folder / name
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[:1].upper() + text[1:] + "."


def _code_line(rng: random.Random) -> list[tuple[str, tuple[int, int, int]]]:
    indent = "    " * rng.randint(0, 3)
    parts: list[tuple[str, tuple[int, int, int]]] = [(indent, (212, 212, 212))]
    kind = rng.random()
    if kind < 0.15:
        return parts + [(f"# {_sentence(rng, rng.randint(3, 9))}", (106, 153, 85))]
    parts.append((rng.choice(_KEYWORDS) + " ", (197, 134, 192)))
    for _ in range(rng.randint(2, 6)):
        word = rng.choice(_WORDS)
        colour = (156, 220, 254) if rng.random() < 0.6 else (220, 220, 170)
        parts.append((word, colour))
        sep = rng.choice(("(", ", ", ".", " = ", ")", "[", "]: ", " + "))
        parts.append((sep, (212, 212, 212)))
    if rng.random() < 0.4:
        parts.append((f'"{rng.choice(_WORDS)} {rng.randint(0, 999)}"', (206, 145, 120)))
    return parts


def _draw_editor(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random
) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(30, 30, 30))
    # Sidebar with a file tree.
    draw.rectangle((x0, y0, x0 + 360, y1), fill=(37, 37, 38))
    tree = _font("DejaVuSans.ttf", 24)
    y = y0 + 20
    while y < y1 - 40:
        depth = rng.randint(0, 3)
        draw.text(
            (x0 + 20 + depth * 24, y), f"{rng.choice(_WORDS)}.py", font=tree, fill=(204, 204, 204)
        )
        y += 36
    # Tabs.
    tab_font = _font("DejaVuSans.ttf", 22)
    draw.rectangle((x0 + 360, y0, x1, y0 + 50), fill=(45, 45, 45))
    for i in range(5):
        draw.text(
            (x0 + 380 + i * 260, y0 + 12),
            f"{rng.choice(_WORDS)}_{i}.py",
            font=tab_font,
            fill=(220, 220, 220),
        )
    # Code at two sizes (a split editor).
    gutter = _font("DejaVuSansMono.ttf", 22)
    for cx0, cx1, size in ((x0 + 370, (x0 + x1) // 2 + 200, 26), ((x0 + x1) // 2 + 210, x1, 20)):
        code = _font("DejaVuSansMono.ttf", size)
        line_height = int(size * 1.45)
        draw.rectangle((cx0 - 8, y0 + 51, cx1, y1), fill=(30, 30, 30))  # clips the pane before
        y = y0 + 64
        number = 1
        while y < y1 - line_height:
            draw.text((cx0, y + 2), f"{number:4d}", font=gutter, fill=(133, 133, 133))
            x = cx0 + 80
            for text, colour in _code_line(rng):
                if x > cx1 - 20:
                    break
                draw.text((x, y), text, font=code, fill=colour)
                x += int(draw.textlength(text, font=code))
            y += line_height
            number += 1


def _draw_page(
    draw: ImageDraw.ImageDraw, img: Image.Image, box: tuple[int, int, int, int], rng: random.Random
) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(255, 255, 255))
    draw.rectangle((x0, y0, x1, y0 + 90), fill=(32, 33, 36))
    draw.text(
        (x0 + 40, y0 + 24),
        "https://example.org/docs/" + "/".join(rng.choice(_WORDS) for _ in range(3)),
        font=_font("DejaVuSans.ttf", 30),
        fill=(232, 234, 237),
    )
    # Banner and a photo-like gradient: the part a PNG codes worst.
    banner = Image.linear_gradient("L").resize((x1 - x0 - 80, 220))
    banner = Image.merge(
        "RGB",
        (
            banner,
            banner.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            banner.point(lambda v: 255 - v),
        ),
    )
    img.paste(banner, (x0 + 40, y0 + 120))
    draw.text(
        (x0 + 80, y0 + 170),
        "Release notes 4.2",
        font=_font("DejaVuSans-Bold.ttf", 72),
        fill=(255, 255, 255),
    )
    y = y0 + 380
    column = x1 - x0 - 120
    sizes = (20, 24, 28, 32, 18, 40, 22)
    while y < y1 - 420:
        heading = _font("DejaVuSans-Bold.ttf", 44)
        draw.text((x0 + 60, y), _sentence(rng, rng.randint(2, 5)), font=heading, fill=(20, 20, 20))
        y += 70
        size = sizes[rng.randrange(len(sizes))]
        body = _font(rng.choice(("DejaVuSans.ttf", "DejaVuSerif.ttf")), size)
        for _ in range(rng.randint(3, 6)):
            line = ""
            while draw.textlength(line, font=body) < column - size * 8:
                line += rng.choice(_WORDS) + " "
            draw.text((x0 + 60, y), line, font=body, fill=(60, 64, 67))
            if rng.random() < 0.3:  # a link in the line
                start = int(draw.textlength(line[: len(line) // 2], font=body))
                draw.text(
                    (x0 + 60 + start, y + size + 6),
                    rng.choice(_WORDS),
                    font=body,
                    fill=(26, 115, 232),
                )
            y += int(size * 1.6)
        y += 24
    # A small table.
    cell = _font("DejaVuSans.ttf", 22)
    for r in range(8):
        for c in range(5):
            cx, cy = x0 + 60 + c * 340, y1 - 400 + r * 46
            fill = (241, 243, 244) if r % 2 else (255, 255, 255)
            draw.rectangle((cx, cy, cx + 340, cy + 46), fill=fill, outline=(218, 220, 224))
            draw.text(
                (cx + 12, cy + 10),
                f"{rng.choice(_WORDS)} {rng.randint(0, 9999)}",
                font=cell,
                fill=(32, 33, 36),
            )


def make_screenshot(seed: int = 7) -> Image.Image:
    """The same RGB 3840x2160 picture for the same seed."""
    rng = random.Random(seed)
    img = Image.new("RGB", SIZE, (0, 0, 0))
    draw = ImageDraw.Draw(img)
    half = SIZE[0] // 2
    _draw_editor(draw, (0, 0, half - 1, SIZE[1] - 1), rng)
    _draw_page(draw, img, (half, 0, SIZE[0] - 1, SIZE[1] - 1), rng)
    return img


def write_screenshot(path: Path, seed: int = 7) -> Path:
    """Save the picture as a PNG (what a screenshot tool writes), once per path."""
    if not path.exists():
        make_screenshot(seed).save(path, format="PNG", compress_level=1)
    return path
