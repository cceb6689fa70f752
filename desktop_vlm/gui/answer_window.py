"""The window an answer streams into.

Rendering is coalesced: pieces arriving from the worker are buffered and appended at most every
``FLUSH_MS`` milliseconds, so a fast stream never repaints the document per token.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QPixmap, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

FLUSH_MS = 30


class AnswerWindow(QWidget):
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("answer_window")
        self.setWindowTitle("desktop-vlm")
        self.resize(720, 520)
        self._pending: list[str] = []
        self._flush_timer = QTimer(self, singleShot=True, interval=FLUSH_MS, timeout=self._flush)

        self.thumbnail = QLabel(objectName="thumbnail")
        self.thumbnail.setFixedSize(96, 72)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("border: 1px solid palette(mid); border-radius: 4px;")
        self.heading = QLabel(objectName="heading")
        self.heading.setStyleSheet("font-weight: 600;")
        self.status = QLabel(objectName="status")
        self.status.setStyleSheet("color: palette(placeholder-text);")
        heading_box = QVBoxLayout()
        heading_box.addWidget(self.heading)
        heading_box.addWidget(self.status)
        heading_box.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.thumbnail)
        top.addLayout(heading_box, 1)

        self.answer = QPlainTextEdit(objectName="answer")
        self.answer.setReadOnly(True)
        self.answer.setPlaceholderText("The answer appears here as it arrives.")

        self.stop_button = QPushButton("Stop", objectName="stop_button")
        self.stop_button.clicked.connect(self.stop_requested.emit)
        self.copy_button = QPushButton("Copy", objectName="copy_button")
        self.copy_button.clicked.connect(self.copy_answer)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.stop_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.answer, 1)
        layout.addLayout(buttons)
        QShortcut(QKeySequence.StandardKey.Close, self, activated=self.close)
        QShortcut(QKeySequence("Esc"), self, activated=self._escape)
        self.set_streaming(False)

    # --- what the controller calls ----------------------------------------------------------

    def begin(self, title: str, image: QImage | None) -> None:
        self._pending.clear()
        self.answer.clear()
        self.heading.setText(title)
        self.status.setText("Preparing the image…")
        if image is not None and not image.isNull():
            self.thumbnail.setPixmap(
                QPixmap.fromImage(image).scaled(
                    self.thumbnail.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        self.set_streaming(True)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def append(self, piece: str) -> None:
        self._pending.append(piece)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def finish(self, status: str) -> None:
        self._flush()
        self.status.setText(status)
        self.set_streaming(False)

    def fail(self, message: str) -> None:
        self._flush()
        self.status.setText(message)
        self.status.setStyleSheet("color: #d93025;")
        self.set_streaming(False)

    def set_streaming(self, streaming: bool) -> None:
        self.stop_button.setEnabled(streaming)
        if streaming:
            self.status.setStyleSheet("color: palette(placeholder-text);")

    def text(self) -> str:
        self._flush()
        return self.answer.toPlainText()

    def copy_answer(self) -> None:
        QGuiApplication.clipboard().setText(self.text())
        self.status.setText(f"Copied {len(self.text())} characters")

    # --- internals ----------------------------------------------------------------------

    def _flush(self) -> None:
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        cursor = self.answer.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        bar = self.answer.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        if at_end:
            bar.setValue(bar.maximum())

    def _escape(self) -> None:
        if self.stop_button.isEnabled():
            self.stop_requested.emit()
        else:
            self.close()
