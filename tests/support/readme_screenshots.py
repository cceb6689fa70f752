"""Regenerate the README's screenshots from the real app under Xvfb with a tray host.

    python tests/support/readme_screenshots.py [OUTPUT_DIR]   (default: resources/screenshots)

Answers come from the loopback test server, so the pictures are reproducible and nothing
reaches the internet.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from support import desktop  # noqa: E402
from support.fake_api import FakeAPI, Stream  # noqa: E402

ANSWER = [
    "The receipt lists **three items**:\n\n",
    "| Item | Qty | Price |\n|---|---:|---:|\n",
    "| Flat white | 1 | 4.50 |\n| Club sandwich | 1 | 8.99 |\n| Oat cookie | 2 | 2.40 |\n\n",
    "Subtotal **15.89 EUR**, VAT 7% included, total **15.89 EUR**, paid by card.\n\n",
    "To check the sum:\n\n```python\nprices = [4.50, 8.99, 2 * 1.20]\nprint(round(sum(prices), 2))  # 15.89\n```\n",
]


def wait(app, condition, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting: {what or condition}")
        app.processEvents()
        time.sleep(0.01)


def desktop_background():
    """A light, busy-looking desktop so that the overlay's dimming shows."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    text = "<br>".join(
        f"<span style='color:#5b6270'>{n:3d}</span>&nbsp;&nbsp;"
        + "def handle(event):&nbsp;&nbsp;return dispatch(event.kind, event.payload)  # routing"
        for n in range(1, 60)
    )
    label = QLabel(f"<div style='font-family:DejaVu Sans Mono; font-size:14px'>{text}</div>")
    label.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnBottomHint)
    label.setStyleSheet("background: #eef1f6; color: #1f2937; padding: 16px;")
    label.setGeometry(0, 0, 1920, 1080)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.show()
    return label


def receipt_window():
    from PySide6.QtWidgets import QLabel

    label = QLabel(
        "<div style='font-family:DejaVu Sans Mono; font-size:15px'>"
        "<h2>CAFÉ LUMEN</h2>12 Harbour Street<br>2026-11-24 08:41<br><br>"
        "1 x Flat white ........ 4.50<br>1 x Club sandwich ..... 8.99<br>"
        "2 x Oat cookie ........ 2.40<br>-----------------------------<br>"
        "<b>TOTAL EUR ........... 15.89</b><br>VAT 7% incl.  CARD ****4821</div>"
    )
    label.setStyleSheet(
        "background: #fffdf7; color: #222; padding: 24px; border: 1px solid #d6d3c8;"
    )
    label.move(1180, 140)
    label.show()
    return label


def main() -> int:
    out = Path(
        sys.argv[1] if len(sys.argv) > 1 else HERE.parent.parent / "resources" / "screenshots"
    )
    out.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="dvlm-shots-"))
    display = desktop.start_xvfb(1920, 1080)
    os.environ.update(display.env)
    os.environ.update(desktop.user_dirs(base))
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    tray_host = desktop.start_trayer(display)
    bus = desktop.start_session_bus()
    os.environ.update(bus.env)
    os.environ["HOME"] = str(base)
    keyring_daemon = desktop.start_keyring(bus, base)
    api = FakeAPI(models=["Qwen/Qwen2.5-VL-7B-Instruct", "mistralai/Pixtral-12B-2409"]).start()
    os.environ["DESKTOP_VLM_BASE_URL"] = api.url
    try:
        from PySide6.QtCore import QPoint
        from PySide6.QtWidgets import QApplication

        from desktop_vlm.app import build
        from desktop_vlm.platform.screenshot import grab_screens

        app = QApplication([])
        shell = build(app)
        wait(app, lambda: shell.tray.icon.isVisible())
        background = desktop_background()
        label = receipt_window()
        wait(app, lambda: label.isVisible())
        for _ in range(30):
            app.processEvents()
            time.sleep(0.01)

        # the overlay, mid-drag over the receipt
        shell.tray.action("action_preset_receipt").trigger()
        shell.overlay.start(grab_screens("qt"))
        wait(app, lambda: shell.overlay.is_active)
        time.sleep(0.3)
        env = dict(os.environ)
        subprocess.run(
            ["xdotool", "mousemove", "1196", "156", "mousedown", "1"], env=env, check=True
        )
        for x, y in ((1300, 260), (1450, 380), (1500, 452)):
            subprocess.run(["xdotool", "mousemove", str(x), str(y)], env=env, check=True)
            for _ in range(10):
                app.processEvents()
                time.sleep(0.01)
        screen = app.primaryScreen().grabWindow(0)
        screen.copy(900, 40, 1000, 620).save(str(out / "overlay.png"))
        api.enqueue(Stream(ANSWER, delay=0.01, usage=(1312, 141)))
        api.enqueue(Stream(["The **oat cookies**: 1.20 EUR each."], usage=(1470, 12)))
        subprocess.run(["xdotool", "mouseup", "1"], env=env, check=True)
        wait(app, lambda: not shell.overlay.is_active)
        if not shell.controller.busy:  # the release landed outside: ask about the receipt directly
            from desktop_vlm.platform.qimage import to_raw

            crop = screen.copy(1196, 156, 305, 297).toImage()
            preset = shell.controller.config.preset("receipt")
            shell.controller.ask(to_raw(crop), preset, crop)
        wait(app, lambda: shell.controller.window is not None and not shell.controller.busy)
        window = shell.controller.window
        window.resize(1000, 720)
        shell.controller.follow_up("Which item is the cheapest?")
        wait(
            app,
            lambda: not shell.controller.busy and not window.streaming,
            what=f"{shell.controller.busy} {window.streaming} {window.status.text()} {window.transcript_text()[-300:]!r}",
        )
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)
        window.grab().save(str(out / "chat.png"))
        window.hide()
        background.hide()

        shell.tray.menu.popup(QPoint(1500, 30))
        shell.tray.presets_menu.popup(QPoint(1500 + shell.tray.menu.width() - 4, 110))
        wait(app, lambda: shell.tray.presets_menu.isVisible())
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)
        menu = app.primaryScreen().grabWindow(0)
        menu.copy(1490, 20, 430, 320).save(str(out / "tray-menu.png"))
        shell.tray.presets_menu.hide()
        shell.tray.menu.hide()

        shell.open_settings(first_run=True)
        dialog = shell.settings
        wait(app, lambda: dialog.isVisible())
        for _ in range(100):
            app.processEvents()
            time.sleep(0.01)
        dialog.grab().save(str(out / "settings.png"))
        shell.hotkeys.unregister_all()
        print(f"screenshots written to {out}")
        return 0
    finally:
        api.stop()
        keyring_daemon.stop()
        bus.stop()
        tray_host.stop()
        display.stop()


if __name__ == "__main__":
    raise SystemExit(main())
