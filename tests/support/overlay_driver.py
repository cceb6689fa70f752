"""Run the region overlay in its own Qt process (its screens and scale factors fixed at start).

Usage: ``python overlay_driver.py OUT_DIR [--then-screens N]``. Grabs every QScreen with
``grabWindow(0)``, starts a ``RegionOverlay`` and prints ``READY {json}`` (the screens Qt sees) once
all windows are exposed. On ``selected`` it writes OUT_DIR/crop.png and OUT_DIR/info.json and exits
0; on ``cancelled`` it exits 3, unless ``--then-screens N`` asks for a second capture: it prints
``CANCELLED``, waits until Qt reports N screens (the test adds or removes monitors meanwhile) and
starts the same overlay again. ``--logical-size-images`` scales each grab down to the screen's
logical size first (what some Wayland compositors hand back) and saves it as OUT_DIR/grab-N.png.
With no decision within 90 s it exits 4.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

from desktop_vlm.gui.overlay import RegionInfo, RegionOverlay
from desktop_vlm.platform.screenshot.models import ScreenGrab


def grab_screens(logical_size: bool) -> list[ScreenGrab]:
    grabs = []
    for screen in QGuiApplication.screens():
        image = screen.grabWindow(0).toImage()
        if logical_size:
            image = image.scaled(screen.geometry().size())
            image.setDevicePixelRatio(1.0)
        grabs.append(ScreenGrab(screen.name(), screen.geometry(), image))
    return grabs


def describe(grabs: list[ScreenGrab]) -> dict:
    """The screens Qt sees, and how many windows exist (the overlay's are created once)."""
    screens = [
        {
            "name": grab.screen_name,
            "geometry": list(grab.geometry.getRect()),
            "image": [grab.image.width(), grab.image.height()],
        }
        for grab in grabs
    ]
    return {"screens": screens, "windows": len(QApplication.topLevelWidgets())}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--then-screens", type=int, default=0)
    parser.add_argument("--logical-size-images", action="store_true")
    args = parser.parse_args()
    out = args.out
    app = QApplication(sys.argv[:1])
    overlay = RegionOverlay()
    grabs: list[ScreenGrab] = []
    second_capture = QTimer(interval=100)
    recaptures = [1 if args.then_screens else 0]

    def capture() -> None:
        grabs[:] = grab_screens(args.logical_size_images)
        if args.logical_size_images:
            for number, grab in enumerate(grabs):
                grab.image.save(str(out / f"grab-{number}.png"))
        overlay.start(grabs)

    def on_shown() -> None:
        say("READY " + json.dumps(describe(grabs)))

    def on_cancelled() -> None:
        if recaptures[0]:
            recaptures[0] -= 1
            say("CANCELLED")
            second_capture.start()
        else:
            app.exit(3)

    def when_screens_changed() -> None:
        if len(QGuiApplication.screens()) == args.then_screens:
            second_capture.stop()
            capture()

    def on_selected(image: QImage, info: RegionInfo) -> None:
        image.save(str(out / "crop.png"))
        (out / "info.json").write_text(json.dumps(info.as_dict()))
        app.exit(0)

    overlay.shown.connect(on_shown)
    overlay.selected.connect(on_selected)
    overlay.cancelled.connect(on_cancelled)
    second_capture.timeout.connect(when_screens_changed)
    QTimer.singleShot(90_000, lambda: app.exit(4))
    capture()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
