"""What the overlay paints into the pictures themselves: areas covered by hand (solid, before
anything is cropped, so the covered pixels are what is sent and what history keeps) and two
regions combined into one image with their numbers (the layout is core.combine's)."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap

from desktop_vlm.core.combine import place

COVER = QColor(0, 0, 0)
_BACKGROUND = QColor(255, 255, 255)
_BAND = QColor(230, 232, 236)
_NUMBER = QColor(20, 20, 24)


def cover(image: QImage, pixmap: QPixmap, rect: QRect) -> None:
    """Paint ``rect`` (image pixels) solid in the frozen image and in what is shown of it."""
    for device in (image, pixmap):
        painter = QPainter(device)
        painter.fillRect(rect, COVER)
        painter.end()


def combine(images: list[QImage]) -> QImage:
    """The images in one, each under a band with its number (1, 2, ...)."""
    placement = place([(i.width(), i.height()) for i in images])
    out = QImage(placement.width, placement.height, QImage.Format.Format_RGB32)
    out.fill(_BACKGROUND)
    painter = QPainter(out)
    font = QFont()
    font.setPixelSize(24)
    font.setBold(True)
    painter.setFont(font)
    for number, (image, (x, y), band) in enumerate(
        zip(images, placement.parts, placement.bands, strict=True), start=1
    ):
        box = QRect(*band)
        painter.fillRect(box, _BAND)
        painter.setPen(_NUMBER)
        painter.drawText(box.adjusted(10, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, str(number))
        source = QImage(image)
        source.setDevicePixelRatio(1.0)  # pixels as captured, not the screen's logical size
        painter.drawImage(x, y, source)
    painter.end()
    return out
