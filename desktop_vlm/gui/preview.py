"""The look before sending (``[privacy] confirm = true``): the exact image that will go out, at
its own pixels, the host and the model it goes to, and what was covered; Send or Cancel.

Keyboard first: Enter sends, Esc cancels, and the dialog takes the focus when it opens. Nothing
is sent until Send; closing the window any other way cancels.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)


class SendPreview(QDialog):
    """What will be sent, and where; ``decided(True)`` on Send, ``decided(False)`` otherwise."""

    decided = Signal(bool)

    def __init__(
        self,
        image: QImage,
        *,
        host: str,
        model: str,
        size_text: str,
        covered: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("send_preview")
        self.setWindowTitle("Send this image? — desktop-vlm")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._told = False
        where = QLabel(objectName="preview_where")
        where.setTextFormat(Qt.TextFormat.RichText)
        lines = [
            f"To <b>{html.escape(host)}</b>, model <b>{html.escape(model)}</b>",
            html.escape(size_text),
        ]
        if covered:
            lines.append(html.escape(covered))
        where.setText("<br>".join(lines))
        where.setWordWrap(True)
        picture = QLabel(objectName="preview_image")
        shown = QImage(image)
        shown.setDevicePixelRatio(self.devicePixelRatioF())  # one image pixel per screen pixel
        picture.setPixmap(QPixmap.fromImage(shown))
        scroll = QScrollArea()
        scroll.setWidget(picture)
        scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        buttons = QDialogButtonBox()
        self.send_button = buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        self.send_button.setObjectName("preview_send")
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("preview_cancel")
        self.send_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.accept)
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        logical_w = image.width() / self.devicePixelRatioF()
        logical_h = image.height() / self.devicePixelRatioF()
        self.resize(
            int(min(max(logical_w + 40, 420), screen.width() * 0.9)),
            int(min(logical_h + 140, screen.height() * 0.9)),
        )
        self.send_button.setFocus()

    def done(self, result: int) -> None:  # noqa: D401 - QDialog's hook for accept/reject/close
        if not self._told:
            self._told = True
            self.decided.emit(result == QDialog.DialogCode.Accepted.value)
        super().done(result)
