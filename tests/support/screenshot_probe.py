"""Run grab_screens in a process of its own (own display, scale factors, Wayland) and save it.

``python screenshot_probe.py OUT_DIR [HANDLER] [--timeout S]`` writes OUT_DIR/N.png per
ScreenGrab and OUT_DIR/grabs.json with each grab's screen name, logical geometry and image size;
on CaptureError it writes {"error": message} there and exits with 3. Logging goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from PySide6.QtGui import QGuiApplication

from desktop_vlm.platform.screenshot import CaptureError, grab_screens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("handler", nargs="?", default=None)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - grab_screens needs it alive
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        grabs = grab_screens(args.handler, timeout=args.timeout)
    except CaptureError as err:
        (args.out / "grabs.json").write_text(json.dumps({"error": str(err)}))
        sys.exit(3)
    records = []
    for index, grab in enumerate(grabs):
        grab.image.save(str(args.out / f"{index}.png"))
        geo = grab.geometry
        records.append(
            {
                "name": grab.screen_name,
                "geometry": [geo.x(), geo.y(), geo.width(), geo.height()],
                "size": [grab.image.width(), grab.image.height()],
                "file": f"{index}.png",
            }
        )
    (args.out / "grabs.json").write_text(json.dumps({"grabs": records}))


if __name__ == "__main__":
    main()
