"""Screen-text images with known text, for the OCR tests and benchmark.

Each sample is a list of blocks (a block is a list of lines) drawn with a real font, anti-
aliased, in a light or dark theme, and the text a person would type from it (lines one per
line, a blank line between blocks). ``render_pillow`` draws with Pillow's FreeType (fast, for
tests); ``render_chromium`` lays the same lines out as HTML and screenshots them with headless
Chromium, which is how text on a real screen is rasterised (hinting, gamma, subpixel position).
"""

from __future__ import annotations

import html
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_FILES = {
    "DejaVu Sans": "dejavu/DejaVuSans.ttf",
    "DejaVu Sans Mono": "dejavu/DejaVuSansMono.ttf",
    "Liberation Sans": "liberation2/LiberationSans-Regular.ttf",
    "Liberation Mono": "liberation2/LiberationMono-Regular.ttf",
    "Liberation Serif": "liberation2/LiberationSerif-Regular.ttf",
    "Noto Sans": "noto/NotoSans-Regular.ttf",
    "Noto Serif": "noto/NotoSerif-Regular.ttf",
}
FONT_ROOTS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"))
LIGHT = ((255, 255, 255), (28, 28, 28))
DARK = ((30, 31, 34), (220, 222, 226))


@dataclass
class Sample:
    name: str
    blocks: list[list[str]]
    font: str = "DejaVu Sans"
    size: int = 16
    dark: bool = False
    #: Blocks side by side (columns) instead of one below the other.
    columns: bool = False
    width: int = 1024
    line_pitch: float = 1.5
    margin: int = 12
    extra: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join("\n".join(block) for block in self.blocks)

    @property
    def colors(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        return DARK if self.dark else LIGHT


def font_path(family: str) -> Path:
    for root in FONT_ROOTS:
        path = root / FONT_FILES[family]
        if path.exists():
            return path
        found = next(root.rglob(Path(FONT_FILES[family]).name), None) if root.exists() else None
        if found:
            return found
    raise FileNotFoundError(f"font {family!r} is not installed")


def render_pillow(sample: Sample, height: int | None = None) -> Image.Image:
    font = ImageFont.truetype(str(font_path(sample.font)), sample.size)
    pitch = round(sample.size * sample.line_pitch)
    background, ink = sample.colors
    if sample.columns:
        col_w = (sample.width - 2 * sample.margin) // len(sample.blocks)
        rows = max(len(b) for b in sample.blocks)
        size = (sample.width, height or 2 * sample.margin + rows * pitch)
        img = Image.new("RGB", size, background)
        draw = ImageDraw.Draw(img)
        for c, block in enumerate(sample.blocks):
            for i, line in enumerate(block):
                xy = (sample.margin + c * col_w, sample.margin + i * pitch)
                draw.text(xy, line, font=font, fill=ink)
        return img
    rows = sum(len(b) for b in sample.blocks) + len(sample.blocks) - 1
    size = (sample.width, height or 2 * sample.margin + rows * pitch)
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    y = sample.margin
    for block in sample.blocks:
        for line in block:
            draw.text((sample.margin, y), line, font=font, fill=ink)
            y += pitch
        y += pitch  # the blank line between blocks
    return img


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_chromium(sample: Sample, folder: Path, height: int | None = None) -> Image.Image:
    """The sample as headless Chromium draws it (falls back to Pillow without Chromium)."""
    browser = chromium()
    if browser is None:
        return render_pillow(sample, height)
    pitch = round(sample.size * sample.line_pitch)
    background, ink = sample.colors

    def block_html(block: list[str]) -> str:
        return "".join(f"<div>{html.escape(line) or '&nbsp;'}</div>" for line in block)

    if sample.columns:
        body = "".join(f'<div style="flex:1">{block_html(b)}</div>' for b in sample.blocks)
        body = f'<div style="display:flex">{body}</div>'
        rows = max(len(b) for b in sample.blocks)
    else:
        body = '<div style="height:1lh"></div>'.join(block_html(b) for b in sample.blocks)
        rows = sum(len(b) for b in sample.blocks) + len(sample.blocks) - 1
    page_h = height or 2 * sample.margin + rows * pitch
    style = (
        f"html,body{{margin:0;background:rgb{background};}}"
        f"body{{padding:{sample.margin}px;color:rgb{ink};font:{sample.size}px/{pitch}px "
        f"'{sample.font}';white-space:pre;overflow:hidden}}"
    )
    page = folder / f"{sample.name}.html"
    page.write_text(f"<!doctype html><meta charset=utf-8><style>{style}</style>{body}")
    shot = folder / f"{sample.name}.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--screenshot={shot}",
            f"--window-size={sample.width},{page_h}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    with Image.open(shot) as img:
        return img.convert("RGB")


PROSE = [
    [
        "A person presses a hotkey, draws a rectangle on the screen, and a model",
        "answers a preset prompt about it. The answer streams into a chat window",
        "where follow-up questions keep the conversation about that image going.",
    ],
    [
        "For quick text extraction the answer goes straight to the clipboard with",
        "a notification and no window at all. Errors show one clear line on stderr.",
    ],
]
UI = [
    ["File  Edit  View  Help"],
    ["General settings", "API key: stored in the keyring", "Base URL: http://127.0.0.1:8000/v1"],
    ["Preset: Extract text (copy to clipboard)", "Cancel    Save"],
]
CODE = [
    [
        "def read_text(source: bytes, timeout: float = 60.0) -> OcrResult:",
        '    """Read the text of an image in this process."""',
        "    return default_engine().read(source, timeout=timeout)",
    ],
    [
        "for index, line in enumerate(lines, start=1):",
        '    print(f"{index:>4}: {line!r}")  # 12 + 30 == 42',
    ],
]
COLUMNS = [
    [
        "The left column tells",
        "one story from the top",
        "to the bottom, and it",
        "ends here at the foot.",
    ],
    [
        "The right column is a",
        "second story, read only",
        "after the left one has",
        "been read to its end.",
    ],
]


def accuracy_samples() -> list[Sample]:
    """Screen text of the kinds people select: prose, UI, code; light and dark; 12-16 px."""
    return [
        Sample("prose-light-16", PROSE, "DejaVu Sans", 16),
        Sample("prose-dark-14", PROSE, "Liberation Sans", 14, dark=True),
        Sample("prose-serif-15", PROSE, "Noto Serif", 15),
        Sample("ui-light-13", UI, "Noto Sans", 13),
        Sample("ui-dark-12", UI, "DejaVu Sans", 12, dark=True),
        Sample("code-light-14", CODE, "DejaVu Sans Mono", 14),
        Sample("code-dark-13", CODE, "Liberation Mono", 13, dark=True),
        Sample("small-12", PROSE, "Liberation Sans", 12),
        Sample("columns-15", COLUMNS, "Noto Sans", 15, columns=True, width=640),
    ]


def timing_sample() -> Sample:
    """Enough 16-px prose to fill a 1024x400 crop (16 lines at a 24-px pitch)."""
    lines = [line for block in PROSE for line in block]
    lines = (lines * 4)[:16]
    return Sample("crop-1024x400-16px", [lines], "DejaVu Sans", 16, line_pitch=1.5, margin=8)


# --- scoring -----------------------------------------------------------------------------------


def normalise(text: str) -> str:
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(read: str, truth: str) -> float:
    """Character error rate, whitespace runs counted as one space."""
    truth_n = normalise(truth)
    return edit_distance(normalise(read), truth_n) / max(1, len(truth_n))


def word_accuracy(read: str, truth: str) -> float:
    """Share of the true words read exactly, in order (longest common subsequence)."""
    import difflib

    truth_words, read_words = truth.split(), read.split()
    matcher = difflib.SequenceMatcher(None, read_words, truth_words, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return matched / max(1, len(truth_words))
