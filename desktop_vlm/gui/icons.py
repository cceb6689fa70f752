"""The app's window icon and its tray icons, rendered from packaged SVG drawings.

A tray shows its icons at 16 to 48 physical pixels, where one large drawing scaled down turns
the viewfinder brackets into grey blur. So each tray drawing exists on more than one pixel grid
(``tray-16.svg`` on 16 px, ``tray.svg`` on 24 px) and every size is rendered from the drawing
whose grid it is a whole multiple of. Nothing is read or rendered at import; each icon is built
on its first use and then cached, which keeps start-up cheap.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

log = logging.getLogger(__name__)

# Sizes shipped as app-N.png. They are also the sizes announced to the window system (X11 copies
# every announced size into _NET_WM_ICON), so there is deliberately no 512 here.
APP_PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
# The sizes trays ask for at ratios 1, 1.25, 1.5, 1.75 and 2; others are scaled down from the
# next larger one.
TRAY_SIZES = (16, 20, 22, 24, 28, 32, 36, 40, 44, 48, 64, 96)

# Below this many pixels the app icon uses the tray drawings: the full drawing's sparkle and
# rounded brackets need more pixels than that to read.
_APP_DETAIL_MIN_PX = 32


@dataclass(frozen=True)
class Drawing:
    """An SVG drawn on a square pixel grid, with ``margin`` empty grid units around its badge."""

    name: str
    grid: int
    margin: int = 0

    def crisp_scale(self, px: int) -> tuple[int, int] | None:
        """(render size, crop per side) that keeps every edge on a pixel at ``px``, if any.

        The drawing is crisp at whole multiples of its grid, and, with its empty margin cropped
        off, at whole multiples of its content (22 px from the 24 px grid with a 1 px margin).
        """
        if px % self.grid == 0:
            return px, 0
        content = self.grid - 2 * self.margin
        if self.margin and px % content == 0:
            factor = px // content
            return self.grid * factor, self.margin * factor
        return None


APP_DRAWING = Drawing("app.svg", 256)
TRAY_DRAWINGS = (Drawing("tray.svg", 24, margin=1), Drawing("tray-16.svg", 16))
TRAY_BUSY_DRAWINGS = (Drawing("tray-busy.svg", 24, margin=1), Drawing("tray-busy-16.svg", 16))


def read_resource(name: str) -> bytes:
    """Bytes of a packaged file in desktop_vlm/resources (works from a wheel or a zip too)."""
    return resources.files("desktop_vlm").joinpath("resources", name).read_bytes()


def render_svg(data: bytes, px: int, crop: int = 0) -> QImage:
    """Render SVG ``data`` into a transparent ``px`` x ``px`` image, ``crop`` pixels cut per side."""
    renderer = QSvgRenderer(QByteArray(data))
    if not renderer.isValid():
        raise ValueError("not a valid SVG drawing")
    image = QImage(px, px, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    full = px + 2 * crop
    renderer.render(painter, QRectF(-crop, -crop, full, full))
    painter.end()
    return image


def render_hinted(
    drawings: Sequence[Drawing], px: int, read: Callable[[str], bytes] = read_resource
) -> QImage:
    """Render ``px`` from the finest drawing that is crisp there, else the closest one smoothly.

    ``drawings`` go from the finest grid to the coarsest; the finer grid wins when both fit
    (48 px is 2 x 24 and 3 x 16; the 24 px drawing has the better proportions there).
    """
    for drawing in drawings:
        fit = drawing.crisp_scale(px)
        if fit is not None:
            full, crop = fit
            return render_svg(read(drawing.name), full - 2 * crop, crop)
    fallback = next((d for d in drawings if d.grid - 2 * d.margin <= px), drawings[-1])
    return render_svg(read(fallback.name), px)


def render_app(px: int, read: Callable[[str], bytes] = read_resource) -> QImage:
    """The app icon at ``px``: the full drawing from 32 px up, the hinted tray drawing below."""
    if px < _APP_DETAIL_MIN_PX:
        return render_hinted(TRAY_DRAWINGS, px, read)
    return render_svg(read(APP_DRAWING.name), px)


def _icon_from(render: Callable[[int], QImage], sizes: Iterable[int]) -> QIcon:
    # Qt's own pixmap engine picks the exact size (or scales the next larger one down). A Python
    # QIconEngine could render any size on demand, but PySide cannot hand the engine its clone()
    # returns over to C++, so a detached copy of such an icon crashes.
    icon = QIcon()
    for px in sizes:
        try:
            image = render(px)
        except (OSError, ValueError):
            log.exception("Could not draw the %s px icon; the installed package data is broken", px)
            continue
        icon.addPixmap(QPixmap.fromImage(image))
    return icon


def _app_image(px: int) -> QImage:
    """The shipped PNG (decoding is cheaper than rendering), the SVG if the PNG is unusable."""
    try:
        image = QImage.fromData(read_resource(f"app-{px}.png"), "PNG")
    except OSError:
        image = QImage()
    if image.isNull() or image.width() != px:
        log.warning("app-%s.png is missing or damaged; rendering the SVG instead", px)
        return render_app(px)
    return image


@functools.cache
def app_icon() -> QIcon:
    """The window and launcher icon, pixel-hinted below 32 px."""
    return _icon_from(_app_image, APP_PNG_SIZES)


def tray_icon(busy: bool = False, local_only: bool = False) -> QIcon:
    """The tray icon: a light glyph on a dark badge, so it reads on dark and light panels.

    ``busy`` adds a green dot in place of one bracket, shown while a request is running;
    ``local_only`` an amber bar along the bottom edge (nothing leaves this machine).
    """
    return _tray_icon(bool(busy), bool(local_only))


LOCAL_ONLY_MARK = QColor(245, 166, 35)


@functools.cache
def _tray_icon(busy: bool, local_only: bool) -> QIcon:
    # One cache entry per state however the caller spells the argument.
    drawings = TRAY_BUSY_DRAWINGS if busy else TRAY_DRAWINGS

    def render(px: int) -> QImage:
        image = render_hinted(drawings, px)
        if local_only:
            painter = QPainter(image)
            bar = max(2, px // 6)
            painter.fillRect(0, px - bar, px, bar, LOCAL_ONLY_MARK)
            painter.end()
        return image

    return _icon_from(render, TRAY_SIZES)
