"""Real 4K screenshots for the payload benchmark, made at run time (nothing stored in the repo).

Headless Chromium renders real pages of this repository at 3840x2160: its README as GitHub
shows it, a changelog built from its commit log, two of its source files syntax-highlighted in
a light and in a dark editor, a table of its files, and an article with a photograph. The
photograph itself (a real one, 6028x3391, from Debian's ``lomiri-wallpapers-20.04`` package) is
the last image of the set.

The pages are laid out as on a 4K monitor at 150 % scaling (2560x1440 CSS pixels at device
scale 1.5, what 4K desktops commonly ship with): at 100 % the text of a 4K screen is unreadable
for a person after the API's downscale to 2048, and a benchmark of legibility must start from
text a person can read. Body text then comes out at 10-12 px after the downscale.

Because we render the pages, we know their text: a second Chromium run of each page
(``--dump-dom`` with ``#words``) lists every word that lies wholly inside the screenshot, in
reading order, measured by the same layout engine. That list is the ground truth OCR is scored
against.

    python tests/benchmarks/real_screens.py OUT_DIR     # write the set there, to look at
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.real_pages import PAGES, PHOTO, SIZE  # noqa: E402

PHOTO_PACKAGE = "lomiri-wallpapers-20.04"
CHROMIUM_TIMEOUT = 90


@dataclass(frozen=True)
class RealScreen:
    """One image of the set: the file as a screenshot tool (or a camera) saved it."""

    name: str
    path: Path
    kind: str  # "screen", "mixed" (text and a photo) or "photo"
    words: tuple[str, ...]  # the words visible in it, in reading order (none for the photo)


# --- rendering ----------------------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("the payload benchmark needs Chromium: apt-get install chromium")


def _run_chromium(profile: Path, scale: float, *args: str) -> str:
    width, height = round(SIZE[0] / scale), round(SIZE[1] / scale)
    argv = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--force-device-scale-factor={scale}",
        *args,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def render(name: str, page: tuple[str, float], folder: Path) -> tuple[Path, tuple[str, ...]]:
    """The page's screenshot and the words wholly inside it."""
    document, scale = page
    source = folder / f"{name}.html"
    source.write_text(document, encoding="utf-8")
    shot = folder / f"{name}.png"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        _run_chromium(Path(profile), scale, f"--screenshot={shot}", source.as_uri())
        dom = _run_chromium(Path(profile), scale, "--dump-dom", source.as_uri() + "#words")
    found = re.search(r'<pre id="visible-words">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"chromium did not list the words of {name}")
    words = json.loads(html.unescape(found.group(1)))
    from PIL import Image

    with Image.open(shot) as img:
        if img.size != SIZE:
            raise RuntimeError(f"chromium made a {img.size} screenshot of {name}, not {SIZE}")
    return shot, tuple(words)


def make_real_screens(folder: Path) -> list[RealScreen]:
    """Render every page into ``folder`` and add the photograph: the benchmark's set."""
    if not PHOTO.exists():
        raise RuntimeError(f"the payload benchmark needs {PHOTO}: apt-get install {PHOTO_PACKAGE}")
    screens = []
    for name, (kind, build) in PAGES.items():
        path, words = render(name, build(), folder)
        screens.append(RealScreen(name, path, kind, words))
    screens.append(RealScreen("photo", PHOTO, "photo", ()))
    return screens


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    for screen in make_real_screens(out):
        print(f"{screen.name}: {screen.path} ({screen.kind}, {len(screen.words)} words)")
