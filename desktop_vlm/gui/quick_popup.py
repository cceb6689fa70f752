"""The small card a quick preset (text to the clipboard, no window) shows near the region it was
captured from: "Reading text…" with Cancel while it works, "312 characters copied" when done,
and on failure the reason with Retry, which sends the same image again.

It never takes the keyboard focus from the program the person is working in, follows the
desktop's palette, and stays on the screen the region was on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from desktop_vlm.gui import theme

DONE_MS = 2500
GAP = 8
#: The card's narrowest (its size before the first show is only a hint), and its margin from
#: the screen's edges.
MIN_WIDTH = 240
EDGE = 16


class QuickPopup(QFrame):
    cancel_requested = Signal()
    retry_requested = Signal()

    def __init__(self, title: str, near: QRect | None = None) -> None:
        super().__init__(
            None,
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus,
        )
        self.setObjectName("quick_popup")
        self.setWindowTitle("desktop-vlm")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        colors = theme.colors(self.palette())
        self.setStyleSheet(
            # Square: a window manager without a compositor paints a rounded card's corners
            # in the window's colour; the border reads on both themes (not palette(mid)).
            f"#quick_popup {{ background: palette(window); border: 1px solid {colors.muted.name()};"
            " }"
            f"QLabel#quick_error {{ color: {colors.error.name()}; }}"
        )
        self._near = near
        self.setMinimumWidth(MIN_WIDTH)
        self.title = QLabel(title, objectName="quick_title")
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.message = QLabel(objectName="quick_message")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        self.message.setMaximumWidth(360)
        self.progress = QProgressBar(objectName="quick_progress")
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(4)
        self.cancel_button = QPushButton("Cancel", objectName="quick_cancel")
        self.cancel_button.clicked.connect(self._cancel)
        self.retry_button = QPushButton("Retry", objectName="quick_retry")
        self.retry_button.clicked.connect(self._retry)
        self.close_button = QPushButton("Close", objectName="quick_close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.retry_button, self.close_button, self.cancel_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self._timer = QTimer(self, singleShot=True, timeout=self.close)

    # --- states -----------------------------------------------------------------------------

    def working(self, text: str) -> None:
        self._show(text, progress=True, cancel=True, retry=False)

    def done(self, headline: str, detail: str = "") -> None:
        """The result in a line ("312 characters copied") and its start; then it goes."""
        self.title.setText(headline)
        self._show(detail, progress=False, cancel=False, retry=False)
        self.message.setVisible(bool(detail))
        self.close_button.hide()
        self._place()
        self._timer.start(DONE_MS)

    def warn(self, text: str) -> None:
        """A check came back after the result: say it, and stay until closed."""
        self._timer.stop()
        self.message.setText(f"{self.message.text()}\n⚠ {text}".strip())
        self.message.setVisible(True)
        self.close_button.show()
        self._place()

    def failed(self, text: str, retry: bool = True) -> None:
        self.message.setObjectName("quick_error")
        self.message.setStyleSheet(self.message.styleSheet())  # re-polish for the new name
        self._show(text, progress=False, cancel=False, retry=retry)

    # --- internals --------------------------------------------------------------------------

    def _show(self, text: str, *, progress: bool, cancel: bool, retry: bool) -> None:
        self._timer.stop()
        self.message.setText(text)
        self.progress.setVisible(progress)
        self.cancel_button.setVisible(cancel)
        self.retry_button.setVisible(retry)
        self.close_button.setVisible(not cancel)
        self._place()
        self.show()
        self.raise_()
        QTimer.singleShot(0, self, self._place)  # again with the size it has once shown

    def _place(self) -> None:
        self.adjustSize()
        self.move(self._position())

    def _position(self) -> QPoint:
        """Below the region (above it when the screen ends), else the corner of the screen."""
        size = self.frameSize().expandedTo(self.sizeHint())
        near = self._near
        screen = QGuiApplication.screenAt(near.center()) if near is not None else None
        screen = screen or QGuiApplication.primaryScreen()
        area = screen.availableGeometry()
        if near is None:
            x = area.right() - size.width() - EDGE
            y = area.bottom() - size.height() - EDGE
        else:
            x = near.left()
            y = near.bottom() + GAP
            if y + size.height() > area.bottom():
                y = near.top() - GAP - size.height()
        # Whole on the screen, whatever the region and the card's size
        x = max(area.left(), min(x, area.right() + 1 - size.width()))
        y = max(area.top(), min(y, area.bottom() + 1 - size.height()))
        return QPoint(x, y)

    def _cancel(self) -> None:
        self.cancel_requested.emit()
        self.close()

    def _retry(self) -> None:
        self.retry_requested.emit()
        self.close()


def region_rect(info: object) -> QRect | None:
    """The desktop rectangle a capture's RegionInfo covers (None for a clipboard image)."""
    logical = getattr(info, "logical_rect", None)
    return logical.toAlignedRect() if logical is not None else None


def working_text(preset_title: str, offline: bool) -> str:
    return "Reading text…" if offline else f"{preset_title}…"


class QuickCards:
    """The cards of the quick requests in flight, by request id; a card that shows a result is
    kept until it closes itself (it outlives its request)."""

    def __init__(self) -> None:
        self._open: dict[int, QuickPopup] = {}
        self._shown: set[QuickPopup] = set()
        self._recent: dict[int, QuickPopup] = {}

    def open(
        self,
        request_id: int,
        title: str,
        near: QRect | None,
        working: str,
        cancel: Callable[[], None],
    ) -> None:
        card = QuickPopup(title, near)
        card.cancel_requested.connect(cancel)
        card.working(working)
        self._open[request_id] = card
        self._shown.add(card)
        card.destroyed.connect(lambda *_a, r=request_id, c=card: self._gone(r, c))

    def _gone(self, request_id: int, card: QuickPopup) -> None:
        """A card closed (Cancel, its timeout, or a click) is deleted: forget it everywhere."""
        self._shown.discard(card)
        if self._open.get(request_id) is card:
            del self._open[request_id]
        if self._recent.get(request_id) is card:
            del self._recent[request_id]

    def take(self, request_id: int) -> QuickPopup | None:
        """The request's card, which the caller now finishes (done, failed or close)."""
        card = self._open.pop(request_id, None)
        if card is not None:
            self._recent[request_id] = card
        return card

    def recent(self, request_id: int) -> QuickPopup | None:
        """A finished request's card while it is still on screen."""
        card = self._recent.get(request_id)
        return card if card is not None and card.isVisible() else None

    def working(self, request_id: int, text: str) -> None:
        """Say what the request's card waits for now (the preview, then the answer)."""
        card = self._open.get(request_id)
        if card is not None:
            card.working(text)

    def __contains__(self, request_id: int) -> bool:
        return request_id in self._open
