"""Regenerate the README's screenshots from the real app, as a person sees it: the desktop of
look.py (Xvfb, openbox, dunst, a tray host, a keyring), the app as its own process driven with
`desktop-vlm` commands and xdotool, and the loopback test server answering with realistic
first-token delays. Nothing reaches the internet.

    python tests/support/readme_screenshots.py [OUTPUT_DIR]      (default: resources/screenshots)
    python tests/support/readme_screenshots.py --review DIR      every scene at light and dark,
                                                                 scale 1 and 2, in DIR/<variant>/

The README's set is taken at scale 1, light (chat-dark.png: dark); each picture is cut to the
window that matters and quantised to 256 colours (pngquant when installed, else Pillow).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from PIL import Image  # noqa: E402

from support.fake_api import Stream  # noqa: E402
from support.look import RECEIPT, LookDesktop, text_window  # noqa: E402

ROOT = HERE.parents[1]
DEFAULT_OUT = ROOT / "resources" / "screenshots"

#: Where the receipt window sits (client area, device pixels), and the region dragged over it.
RECEIPT_AT = (1180, 140)
REGION = (1186, 146, 1516, 388)
CHAT = "^desktop-vlm$"

DESCRIBE = [
    "### A café receipt\n\n",
    "A till receipt from **Café Lumen**, 12 Harbour Street, printed on ",
    "24 November 2026 at 08:41. It lists three lines:\n\n",
    "1. **Flat white**: 4.50\n",
    "2. **Club sandwich**: 8.99\n",
    "3. **Oat cookie** × 2: 2.40\n\n",
    "The total is **15.89 EUR**, VAT 7% included, paid by card (`****4821`). ",
    "The items add up: `4.50 + 8.99 + 2.40 = 15.89`.\n",
]
FOLLOW_UP_Q = "Which item is the cheapest?"
FOLLOW_UP_A = [
    "The **oat cookie**, at 1.20 EUR each. ",
    "The two on the receipt come to 2.40, still less than the flat white (4.50).\n\n",
    "| Item | Unit price |\n|---|---:|\n",
    "| Oat cookie | 1.20 |\n| Flat white | 4.50 |\n| Club sandwich | 8.99 |\n",
]
#: The receipt as a model writes it: amounts as printed (4.50, not 4.5), letters unescaped.
RECEIPT_JSON = """{
  "merchant": "CAFÉ LUMEN",
  "date": "2026-11-24",
  "currency": "EUR",
  "items": [
    {"name": "Flat white", "quantity": 1, "unit_price": 4.50, "price": 4.50},
    {"name": "Club sandwich", "quantity": 1, "unit_price": 8.99, "price": 8.99},
    {"name": "Oat cookie", "quantity": 2, "unit_price": 1.20, "price": 2.40}
  ],
  "subtotal": null,
  "tax": null,
  "total": 15.89
}"""
#: The model's reading of the receipt with one wrong digit (8.99 read as 8.39).
OCR_WRONG = RECEIPT.replace("8.99", "8.39")

#: A person who wants to see what leaves the machine, and OCR answers in the window.
CONFIRM_CONFIG = """\
[privacy]
confirm = true

[presets.ocr]
actions = ["window", "copy"]
"""

README_SET = (
    "overlay.png",
    "receipt.png",
    "chat.png",
    "tray-menu.png",
    "quick-card.png",
    "preview.png",
    "checks.png",
    "settings.png",
    "chat-dark.png",
)


# --- scenes ------------------------------------------------------------------------------------


def finished(look: LookDesktop) -> int:
    return look.log_text().count("request finished")


def wait_finished(look: LookDesktop, count: int, timeout: float = 60.0) -> None:
    look.wait_until(lambda: finished(look) >= count, timeout, f"{count} finished answer(s)")
    time.sleep(0.8)  # the window renders the last piece and the details line


def drag_region(look: LookDesktop, release: bool = True) -> None:
    x1, y1, x2, y2 = REGION
    look.press(x1, y1)
    look.move((x1 + x2) // 2, (y1 + y2) // 2)
    look.move(x2, y2, release=release)


def start_capture(look: LookDesktop, preset: str) -> None:
    result = look.cli("capture", "--preset", preset)
    if result.returncode != 0:
        raise RuntimeError(f"capture: {result.stderr.decode(errors='replace')}")
    look.wait_window("region capture")
    time.sleep(0.6)  # the overlay paints the frozen screen and its hint


def scene_overlay_and_receipt(look: LookDesktop, out: Path) -> None:
    """The overlay mid-drag over the receipt (its label names the preset); then the receipt
    preset's answer as a table with Copy as CSV/JSON."""
    start_capture(look, "receipt")
    look.shot(out / "overlay-hint-full.png")
    drag_region(look, release=False)
    time.sleep(0.4)
    look.shot(out / "overlay-full.png")
    x1, y1, x2, y2 = REGION
    look.shot(out / "overlay.png", (x1 - 260, y1 - 110, (x2 - x1) + 520, (y2 - y1) + 260))
    look.serve(Stream(RECEIPT_JSON, delay=0.01, first_token_delay=4.0))
    look.xdotool("mouseup", "1")
    look.wait_window(CHAT)
    time.sleep(1.5)
    look.shot(out / "receipt-waiting-full.png")
    wait_finished(look, 1)
    look.shot(out / "receipt-full.png")
    look.shot_window(out / "receipt.png", CHAT)


def scene_chat(look: LookDesktop, out: Path, name: str = "chat.png") -> None:
    """A streamed Markdown answer about the receipt, then a follow-up answered in turn."""
    before = finished(look)
    look.serve(Stream(DESCRIBE, delay=0.05, first_token_delay=3.0))
    start_capture(look, "describe")
    drag_region(look)
    look.wait_window(CHAT)
    time.sleep(4.0)  # the first token came; the answer is streaming
    look.shot(out / name.replace(".png", "-streaming-full.png"))
    wait_finished(look, before + 1)
    look.serve(Stream(FOLLOW_UP_A, delay=0.04, first_token_delay=2.5))
    look.type(FOLLOW_UP_Q)
    look.key("Return")
    time.sleep(1.0)
    look.shot(out / name.replace(".png", "-follow-up-sent-full.png"))
    wait_finished(look, before + 2)
    look.shot(out / name.replace(".png", "-full.png"))
    look.shot_window(out / name, CHAT)


def scene_tray_menu(look: LookDesktop, out: Path) -> None:
    x, y = look.tray_icon_center()
    look.click(x, y, 3)
    time.sleep(0.8)
    look.shot(out / "tray-menu-full.png")
    # The menu has no title to find it by: cut the corner of the screen it opens in.
    width = 420 * look.scale
    look.shot(out / "tray-menu.png", (look.width - width, 0, width, 240 * look.scale))
    look.key("Escape")
    time.sleep(0.3)


def scene_quick_card(look: LookDesktop, out: Path) -> None:
    """The card near the region while the ocr preset works, then "… characters copied"."""
    for wid in look.window_ids(CHAT):  # the chat window out of the way, as a person would
        look.xdotool("windowminimize", wid)
    time.sleep(0.5)
    before = look.log_text().count("characters copied")
    look.serve(Stream(RECEIPT, delay=0.02, first_token_delay=4.0))
    start_capture(look, "ocr")
    drag_region(look)
    time.sleep(1.5)
    look.shot(out / "quick-card-working-full.png")
    x1, y1, x2, y2 = REGION
    crop = (x1 - 60, y1 - 40, (x2 - x1) + 300 * look.scale, (y2 - y1) + 200 * look.scale)
    working = look.shot(out / "quick-card-working.png", crop)
    look.wait_until(
        lambda: look.log_text().count("characters copied") > before, 60, "the copied card"
    )
    time.sleep(0.6)
    look.shot(out / "quick-card-done-full.png")
    done = look.shot(out / "quick-card-done.png", crop)
    side_by_side(out / "quick-card.png", working, done)
    time.sleep(4)  # the card closes itself; a check that disagrees keeps it open
    look.shot(out / "quick-card-later-full.png")


def scene_preview_and_checks(look: LookDesktop, out: Path) -> None:
    """[privacy] confirm = true: the preview before sending; then the ocr answer, which
    differs from the offline reading by one digit, flagged in the window."""
    look.serve(Stream(OCR_WRONG, delay=0.2, first_token_delay=3.0))
    start_capture(look, "ocr")
    drag_region(look)
    look.wait_window("Send this image")
    time.sleep(0.8)
    look.shot(out / "preview-full.png")
    look.shot_window(out / "preview.png", "Send this image", margin=0)
    look.key("Return")
    look.wait_window(CHAT)
    time.sleep(5.0)  # the first token came: the reading streams in
    look.shot(out / "checks-streaming-full.png")
    wait_finished(look, 1)
    look.shot(out / "checks-before-full.png")
    look.wait_until(lambda: "notice: check:" in look.log_text(), 90, "the offline check")
    time.sleep(1.0)
    look.shot(out / "checks-full.png")
    look.shot_window(out / "checks.png", CHAT)


def scene_settings(look: LookDesktop, out: Path) -> None:
    """The first run: no key anywhere, Settings opens by itself with the provider catalog."""
    look.wait_window("Settings", timeout=30)
    time.sleep(1.5)
    look.shot(out / "settings-first-full.png")
    look.shot_window(out / "settings-first.png", "Settings")
    # The catalog: the profile list opened (the combo box sits at 330, 120 in the dialog).
    look.click_in("Settings", 330, 120)
    time.sleep(0.8)
    look.shot(out / "settings-full.png")
    look.shot_window(out / "settings.png", "Settings")  # the open list stays inside it
    look.key("Escape")
    time.sleep(0.3)
    # The other pages, to look at (not in the README): the tabs sit at y 85 in the dialog.
    for name, x in (("presets", 116), ("hotkeys", 184), ("general", 254)):
        look.click_in("Settings", x, 85)
        time.sleep(0.6)
        look.shot_window(out / f"settings-{name}.png", "Settings")


# --- sessions ----------------------------------------------------------------------------------


def session_main(out: Path, dark: bool, scale: float, scenes: set[str]) -> None:
    with LookDesktop(dark=dark, scale=scale) as look:
        text_window(look, RECEIPT, *RECEIPT_AT)
        look.start_app()
        look.shot(out / "desktop-full.png")
        if "tray" in scenes:
            # First: after a capture the tray icon is 1 pixel wide (see the report), so the
            # menu is opened as a person does right after starting the app.
            scene_tray_menu(look, out)
        if "receipt" in scenes:
            scene_overlay_and_receipt(look, out)
        if "chat" in scenes:
            scene_chat(look, out, "chat-dark.png" if dark and "dark-name" in scenes else "chat.png")
        if "quick" in scenes:
            scene_quick_card(look, out)


def session_confirm(out: Path, dark: bool, scale: float) -> None:
    with LookDesktop(dark=dark, scale=scale, config=CONFIRM_CONFIG) as look:
        text_window(look, RECEIPT, *RECEIPT_AT)
        look.start_app()
        scene_preview_and_checks(look, out)


def session_first_run(out: Path, dark: bool, scale: float) -> None:
    with LookDesktop(dark=dark, scale=scale, key=False) as look:
        look.start_app()
        scene_settings(look, out)


def variant(out: Path, dark: bool, scale: float, readme: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if readme and dark:
        session_main(out, dark, scale, {"chat", "dark-name"})
        return
    session_main(out, dark, scale, {"receipt", "chat", "tray", "quick"})
    session_confirm(out, dark, scale)
    session_first_run(out, dark, scale)


# --- pictures ----------------------------------------------------------------------------------


def side_by_side(path: Path, *parts: Path, gap: int = 16) -> Path:
    images = [Image.open(p).convert("RGB") for p in parts]
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    height = max(i.height for i in images)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + gap
    sheet.save(path)
    return path


def optimise(path: Path) -> None:
    """256 colours: pngquant when installed (better dithering), else Pillow's quantiser."""
    if shutil.which("pngquant"):
        subprocess.run(
            [
                "pngquant",
                "--force",
                "--skip-if-larger",
                "--quality=70-95",
                "--output",
                str(path),
                "--",
                str(path),
            ],
            check=False,
            timeout=120,
        )
        return
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main(argv: list[str]) -> int:
    if "--review" in argv:
        index = argv.index("--review")
        base = Path(argv[index + 1] if len(argv) > index + 1 else "/tmp/desktop-vlm-review")
        for dark in (False, True):
            for scale in (1, 2):
                name = f"{'dark' if dark else 'light'}-{scale}x"
                print(f"{name} ...", flush=True)
                variant(base / name, dark, scale)
        print(f"review pictures in {base}")
        return 0
    out = Path(argv[0]) if argv else DEFAULT_OUT
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    variant(work / "light", dark=False, scale=1)
    variant(work / "dark", dark=True, scale=1, readme=True)
    out.mkdir(parents=True, exist_ok=True)
    for name in README_SET:
        source = work / ("dark" if name.endswith("-dark.png") else "light") / name
        target = out / name
        shutil.copyfile(source, target)
        optimise(target)
    shutil.rmtree(work, ignore_errors=True)
    total = sum((out / name).stat().st_size for name in README_SET)
    print(f"screenshots written to {out} ({total // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
