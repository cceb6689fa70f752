"""Regenerate every PNG icon from the SVG drawings, with the same renderer the app uses.

Run from anywhere: ``python resources/render_icons.py`` (``--check`` only reports stale files;
``--sheet FILE`` also draws a contact sheet of every icon over dark and light backgrounds).
Sources: ``resources/desktop-vlm.svg`` (the app icon) and ``desktop_vlm/resources/tray*.svg``
(the pixel-aligned small drawings, used below 32 px). Outputs: the freedesktop hicolor tree
under ``resources/icons`` and the copies the running app loads from ``desktop_vlm/resources``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QRect, QSize, Qt  # noqa: E402
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter  # noqa: E402

from desktop_vlm.gui import icons  # noqa: E402

log = logging.getLogger("render_icons")

APP_SVG = HERE / "desktop-vlm.svg"
PACKAGE_DATA = REPO / "desktop_vlm" / "resources"
HICOLOR = HERE / "icons" / "hicolor"
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def read_source(name: str) -> bytes:
    """The drawing ``name`` as the package will ship it; app.svg comes from its master copy."""
    if name == icons.APP_DRAWING.name:
        return APP_SVG.read_bytes()
    return (PACKAGE_DATA / name).read_bytes()


def outputs() -> dict[Path, bytes | int]:
    """Every generated file: SVG copies as bytes, PNGs as the pixel size to render."""
    svg = APP_SVG.read_bytes()
    planned: dict[Path, bytes | int] = {
        PACKAGE_DATA / "app.svg": svg,
        HICOLOR / "scalable" / "apps" / "desktop-vlm.svg": svg,
    }
    for px in HICOLOR_SIZES:
        planned[HICOLOR / f"{px}x{px}" / "apps" / "desktop-vlm.png"] = px
    for px in icons.APP_PNG_SIZES:
        planned[PACKAGE_DATA / f"app-{px}.png"] = px
    return planned


def _same_pixels(path: Path, image: QImage) -> bool:
    if not path.exists():
        return False
    old = QImage(str(path)).convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    return old == image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


SHEET_BACKGROUNDS = (QColor("#202020"), QColor("#f0f0f0"))
ZOOM = 6


def contact_sheet(path: Path) -> None:
    """Every icon at its sizes over a dark and a light panel, small sizes also zoomed."""
    # QPixmap (inside QIcon) needs a QGuiApplication; offscreen works without a display.
    _app = QGuiApplication.instance() or QGuiApplication(["render_icons", "-platform", "offscreen"])
    rows = [
        ("tray", icons.tray_icon()),
        ("tray, busy", icons.tray_icon(busy=True)),
        ("app", icons.app_icon()),
    ]
    sizes = [(16, 1.0), (22, 1.0), (24, 1.0), (32, 1.0), (48, 1.0), (16, 2.0), (22, 2.0), (24, 2.0)]
    row_height = 24 * ZOOM + 40
    sheet = QImage(1900, row_height * len(rows) + 600, QImage.Format.Format_ARGB32)
    sheet.fill(QColor("#8a8a8a"))
    painter = QPainter(sheet)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    y = 10
    for label, icon in rows:
        painter.setPen(QColor("black"))
        painter.drawText(10, y + 14, f"{label}: 16 22 24 32 48 px, then 16 22 24 px at ratio 2")
        x = 10
        for background in SHEET_BACKGROUNDS:
            panel = QRect(x, y + 22, 8 + sum(int(s * r) + 8 for s, r in sizes), row_height - 30)
            painter.fillRect(panel, background)
            cx = x + 8
            for side, ratio in sizes:
                # Drawn pixel for pixel, so the ratio-2 renders show their physical size.
                image = icon.pixmap(QSize(side, side), ratio).toImage()
                image.setDevicePixelRatio(1.0)
                top = y + 22 + (row_height - 30 - image.height()) // 2
                painter.drawImage(cx, top, image)
                cx += image.width() + 8
            x = panel.right() + 12
            for side in (16, 22, 24):
                tile = QImage(side, side, QImage.Format.Format_ARGB32)
                tile.fill(background)
                tile_painter = QPainter(tile)
                icon.paint(tile_painter, QRect(0, 0, side, side))
                tile_painter.end()
                zoomed = tile.scaled(
                    side * ZOOM, side * ZOOM, mode=Qt.TransformationMode.FastTransformation
                )
                painter.drawImage(x, y + 22, zoomed)
                x += side * ZOOM + 8
            x += 12
        y += row_height
    painter.setPen(QColor("black"))
    painter.drawText(10, y + 14, "app icon, 512 px, over dark and light")
    large = QImage(str(HICOLOR / "512x512" / "apps" / "desktop-vlm.png"))
    for index, background in enumerate(SHEET_BACKGROUNDS):
        painter.fillRect(QRect(10 + index * 550, y + 22, 540, 540), background)
        painter.drawImage(24 + index * 550, y + 36, large)
    painter.end()
    if not sheet.save(str(path)):
        raise OSError(f"could not write {path}")
    log.info("contact sheet: %s", path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    parser.add_argument("--sheet", type=Path, help="also draw a contact sheet PNG to this path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    stale = 0
    for path, what in outputs().items():
        if isinstance(what, bytes):
            fresh = path.exists() and path.read_bytes() == what
        else:
            image = icons.render_app(what, read_source)
            fresh = _same_pixels(path, image)
        if fresh:
            continue
        stale += 1
        if args.check:
            log.info("stale: %s", path.relative_to(REPO))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(what, bytes):
            path.write_bytes(what)
        elif not image.save(str(path), "PNG"):
            log.error("could not write %s", path)
            return 1
        log.info("wrote %s", path.relative_to(REPO))
    if args.check and stale:
        log.info("%s file(s) out of date; run python resources/render_icons.py", stale)
        return 1
    if args.sheet:
        contact_sheet(args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
