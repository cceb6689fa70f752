"""The top of the chat window: the image's thumbnail, the conversation's title, and the pickers.

Picking a preset runs it on this image (a new conversation beside this one); the model picker
applies to every request from the window from then on ("Automatic" lets the app choose).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QRubberBand,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.core.presets import Preset

AUTO_MODEL = "Automatic"


class Thumbnail(QToolButton):
    """The image, small: a click opens the full view, a drag over a part asks about that part
    (``region``: the part as fractions of the image, 0 to 1)."""

    region = Signal(QRectF)

    def __init__(self) -> None:
        super().__init__(objectName="thumbnail")
        self.setIconSize(QSize(112, 84))
        self.setFixedSize(120, 92)
        self.setToolTip("Click: the image at full size · drag over a part to ask about it")
        self.image_size = QSize()
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._origin: QPoint | None = None
        self._dragging = False

    def shown_rect(self) -> QRect:
        """Where the image is drawn inside the button."""
        if self.image_size.isEmpty():
            return QRect()
        size = self.image_size.scaled(self.iconSize(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect(
            QPoint((self.width() - size.width()) // 2, (self.height() - size.height()) // 2), size
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._origin, self._dragging = event.position().toPoint(), False
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._origin is not None:
            point = event.position().toPoint()
            if not self._dragging and (point - self._origin).manhattanLength() >= 6:
                self._dragging = True
                self.setDown(False)
            if self._dragging:
                self._band.setGeometry(QRect(self._origin, point).normalized())
                self._band.show()
                return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        origin, dragging = self._origin, self._dragging
        self._origin, self._dragging = None, False
        if not dragging or origin is None:
            super().mouseReleaseEvent(event)
            return
        self._band.hide()
        self.setDown(False)
        shown = self.shown_rect()
        rect = QRect(origin, event.position().toPoint()).normalized().intersected(shown)
        if rect.width() >= 3 and rect.height() >= 3 and not shown.isEmpty():
            self.region.emit(
                QRectF(
                    (rect.x() - shown.x()) / shown.width(),
                    (rect.y() - shown.y()) / shown.height(),
                    rect.width() / shown.width(),
                    rect.height() / shown.height(),
                )
            )


class Header(QWidget):
    thumbnail_clicked = Signal()
    thumbnail_region = Signal(QRectF)  # a part dragged on the thumbnail, as fractions
    preset_picked = Signal(str)

    def __init__(self, presets: list[Preset], default_preset: str) -> None:
        super().__init__(objectName="header")
        self.thumbnail = Thumbnail()
        self.thumbnail.clicked.connect(self.thumbnail_clicked.emit)
        self.thumbnail.region.connect(self.thumbnail_region.emit)
        self.title = QLabel(objectName="conversation_title")
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle = QLabel(objectName="conversation_subtitle")
        self.subtitle.setStyleSheet("color: palette(placeholder-text);")
        self.preset_combo = QComboBox(objectName="preset_combo")
        self.preset_combo.setToolTip("Pick a preset to run it on this image")
        self.preset_combo.activated.connect(
            lambda index: self.preset_picked.emit(self.preset_combo.itemData(index))
        )
        self.set_presets(presets, default_preset)
        self.model_combo = QComboBox(objectName="model_combo")
        self.model_combo.setEditable(True)
        self.model_combo.setMinimumContentsLength(26)
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_combo.addItem(AUTO_MODEL)
        self.model_combo.lineEdit().setPlaceholderText("model id")
        self.model_combo.setToolTip("The model for the next question (any id can be typed)")
        pickers = QHBoxLayout()
        pickers.addWidget(QLabel("Run preset"))
        pickers.addWidget(self.preset_combo)
        pickers.addSpacing(12)
        pickers.addWidget(QLabel("Model"))
        pickers.addWidget(self.model_combo, 1)
        heading = QVBoxLayout()
        heading.addWidget(self.title)
        heading.addWidget(self.subtitle)
        heading.addStretch(1)
        heading.addLayout(pickers)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.thumbnail)
        layout.addLayout(heading, 1)

    def set_presets(self, presets: list[Preset], selected: str) -> None:
        self.preset_combo.clear()
        for preset in presets:
            self.preset_combo.addItem(preset.title, preset.id)
        self.set_preset(selected)

    def set_preset(self, preset_id: str) -> None:
        index = self.preset_combo.findData(preset_id)
        if index >= 0:
            self.preset_combo.setCurrentIndex(index)

    def selected_preset(self) -> str:
        return self.preset_combo.currentData()

    def selected_model(self) -> str | None:
        text = self.model_combo.currentText().strip()
        return None if not text or text == AUTO_MODEL else text

    def set_models(self, models: list[str]) -> None:
        current = self.model_combo.currentText()
        self.model_combo.clear()
        self.model_combo.addItem(AUTO_MODEL)
        self.model_combo.addItems(models)
        self.model_combo.setCurrentText(current or AUTO_MODEL)

    def set_image(self, image: QImage | None) -> None:
        if image is None or image.isNull():
            self.thumbnail.setIcon(QIcon())
            self.thumbnail.image_size = QSize()
            return
        self.thumbnail.image_size = image.size()
        pixmap = QPixmap.fromImage(
            image.scaled(
                QSize(224, 168),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        self.thumbnail.setIcon(QIcon(pixmap))
