"""Where the next question is written: the box, Send and Stop, and the image it is about.

Keys as in chat apps: Enter sends, Shift+Enter breaks the line, Up in an empty box recalls the
last question; pasting an image hands it on (a new conversation). When a capture waits for its
first question (the ``ask`` preset) the image sits beside the box, as an attachment does.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QKeyEvent, QPixmap, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.platform.qimage import to_raw

FOLLOW_UP_HINT = "Ask a follow-up question…  (Enter sends, Shift+Enter: new line)"
FIRST_HINT = "Ask about this image…  (Enter sends, Shift+Enter: new line)"


class QuestionBox(QPlainTextEdit):
    submitted = Signal(str)
    image_pasted = Signal(object)

    def __init__(self) -> None:
        super().__init__(objectName="question_box")
        self.setPlaceholderText(FOLLOW_UP_HINT)
        self.setTabChangesFocus(True)
        self.last_question = ""
        self.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 16)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                text = self.toPlainText().strip()
                if text:
                    self.submitted.emit(text)
            return
        if key == Qt.Key.Key_Up and not self.toPlainText() and self.last_question:
            self.set_text(self.last_question)
            return
        super().keyPressEvent(event)

    def set_text(self, text: str) -> None:
        self.setPlainText(text)
        self.moveCursor(QTextCursor.MoveOperation.End)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802
        return source.hasImage() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802
        if source.hasImage():
            image = QImage(source.imageData())
            if not image.isNull():
                self.image_pasted.emit(to_raw(image))
                return
        super().insertFromMimeData(source)


class Composer(QWidget):
    submitted = Signal(str)
    stop_requested = Signal()
    image_pasted = Signal(object)

    def __init__(self) -> None:
        super().__init__(objectName="composer")
        self.attachment = QToolButton(objectName="attachment")
        self.attachment.setIconSize(QSize(72, 54))
        self.attachment.setFixedSize(80, 62)
        self.attachment.setToolTip("The image this question is about")
        self.attachment.hide()
        self.attachment_note = QLabel(objectName="attachment_note")
        self.attachment_note.setStyleSheet("color: palette(placeholder-text);")
        self.attachment_note.setWordWrap(True)
        self.attachment_note.setMaximumWidth(80)
        self.attachment_note.hide()
        self.question = QuestionBox()
        self.question.submitted.connect(self._submit)
        self.question.image_pasted.connect(self.image_pasted.emit)
        self.send_button = QPushButton("Send", objectName="send_button")
        self.send_button.setDefault(False)
        self.send_button.clicked.connect(lambda: self._submit(self.question.toPlainText().strip()))
        self.stop_button = QPushButton("Stop", objectName="stop_button")
        self.stop_button.setToolTip("Stop the answer (Esc); the server stops too")
        self.stop_button.clicked.connect(self.stop_requested.emit)
        # Enter while an answer is still coming: the question stays, and this says why.
        self.wait_note = QLabel("Enter again once the answer is in")
        self.wait_note.setObjectName("wait_note")
        self.wait_note.setStyleSheet("color: palette(placeholder-text);")
        self.wait_note.setWordWrap(True)
        self.wait_note.setMaximumWidth(self.stop_button.sizeHint().width())
        self.wait_note.hide()
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.wait_note)
        buttons.addStretch(1)
        chip = QVBoxLayout()
        chip.addWidget(self.attachment)
        chip.addWidget(self.attachment_note)
        chip.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(chip)
        layout.addWidget(self.question, 1)
        layout.addLayout(buttons)
        self.set_busy(False)

    def set_busy(self, busy: bool) -> None:
        self.stop_button.setVisible(busy)
        self.send_button.setVisible(not busy)
        if not busy:
            self.wait_note.hide()
        self._busy = busy

    @property
    def busy(self) -> bool:
        return self._busy

    def attach(self, image: QImage | None, note: str = "") -> None:
        """Show the image the next question is about (None: the conversation's, no chip)."""
        if image is None or image.isNull():
            self.attachment.hide()
            self.attachment_note.hide()
            self.question.setPlaceholderText(FOLLOW_UP_HINT)
            return
        pixmap = QPixmap.fromImage(
            image.scaled(
                QSize(144, 108),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        self.attachment.setIcon(QIcon(pixmap))
        self.attachment.show()
        self.attachment_note.setText(note)
        self.attachment_note.setVisible(bool(note))
        self.question.setPlaceholderText(FIRST_HINT)

    def draft(self) -> str:
        return self.question.toPlainText()

    def set_draft(self, text: str) -> None:
        self.question.set_text(text)

    def _submit(self, text: str) -> None:
        if text and self._busy:
            self.wait_note.show()
        if not text or self._busy:
            return
        self.question.last_question = text
        self.question.clear()
        self.submitted.emit(text)
