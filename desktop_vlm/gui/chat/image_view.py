"""The image of a conversation: a thumbnail that opens the full view, and in the full view a
rectangle dragged over a part to ask about that part (reported in the image's own pixels)."""

from __future__ import annotations

import base64

from PySide6.QtCore import QBuffer, QByteArray, QMimeData, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QGuiApplication,
    QImage,
    QImageReader,
    QKeySequence,
    QMouseEvent,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QRubberBand,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.platform.qimage import to_raw

MIN_REGION = 8  # image pixels on each side: smaller drags are clicks


def image_from_bytes(data: bytes, max_side: int = 0) -> QImage:
    """Decode an encoded image; with ``max_side``, decode it at most that large (thumbnails)."""
    raw = QByteArray(data)
    buffer = QBuffer(raw)
    buffer.open(QBuffer.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    if max_side:
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > max_side:
            reader.setScaledSize(
                size.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio)
            )
    return reader.read()


def can_drop(mime: QMimeData | None) -> bool:
    return mime is not None and (
        mime.hasImage() or (mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()))
    )


def dropped_source(mime: QMimeData | None, *, files: bool = True) -> object | None:
    """What a drop or a paste hands over: the image's pixels, or the path of an image file."""
    if mime is None:
        return None
    if mime.hasImage():
        image = QImage(mime.imageData())
        if not image.isNull():
            return to_raw(image)
    if files:
        for url in mime.urls():
            if url.isLocalFile():
                return url.toLocalFile()
    return None


def image_from_base64(data: str, max_side: int = 0) -> QImage:
    return image_from_bytes(base64.b64decode(data), max_side)


class _SelectableImage(QLabel):
    region_selected = Signal(QRect)

    def __init__(self, image: QImage) -> None:
        super().__init__()
        self.setObjectName("full_image")
        self.setPixmap(QPixmap.fromImage(image))
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._size = image.size()
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._origin: QPoint | None = None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._origin = event.position().toPoint()
            self._band.setGeometry(QRect(self._origin, QSize()))
            self._band.show()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._origin is not None:
            self._band.setGeometry(QRect(self._origin, event.position().toPoint()).normalized())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton or self._origin is None:
            return
        rect = QRect(self._origin, event.position().toPoint()).normalized()
        self._origin = None
        self._band.hide()
        rect = rect.intersected(QRect(QPoint(0, 0), self._size))
        if rect.width() >= MIN_REGION and rect.height() >= MIN_REGION:
            self.region_selected.emit(rect)


class ImageViewer(QDialog):
    """The image at full size; drag over a part to ask about it (``region_selected``)."""

    region_selected = Signal(QRect)

    def __init__(self, image: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("image_viewer")
        self.setWindowTitle(
            f"Image sent ({image.width()} × {image.height()}) — drag over a part to ask about it"
        )
        self.view = _SelectableImage(image)
        self.view.region_selected.connect(self._selected)
        scroll = QScrollArea()
        scroll.setWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        self.resize(
            min(image.width() + 24, screen.width() - 80),
            min(image.height() + 24, screen.height() - 80),
        )
        QShortcut(QKeySequence("Esc"), self, activated=self.close)

    def _selected(self, rect: QRect) -> None:
        self.region_selected.emit(rect)
        self.accept()


def part_rect(part: QRectF, width: int, height: int) -> QRect:
    """A part given as fractions of an image (0 to 1), in that image's pixels."""
    rect = QRect(
        int(part.x() * width),
        int(part.y() * height),
        max(1, round(part.width() * width)),
        max(1, round(part.height() * height)),
    )
    return rect.intersected(QRect(0, 0, width, height))
