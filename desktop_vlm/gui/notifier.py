"""Short notices ("312 characters copied", "No image on the clipboard"): a desktop notification
when the session has a notification daemon, else a tray balloon when there is a tray, else a
small toast in the corner of the screen, so a notice is never lost."""

from __future__ import annotations

import logging
from typing import Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QSystemTrayIcon, QVBoxLayout, QWidget

log = logging.getLogger(__name__)


class Toast(QWidget):
    def __init__(self) -> None:
        super().__init__(
            None,
            Qt.WindowType.ToolTip
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint,
        )
        self.setObjectName("toast")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setStyleSheet(
            "#toast { background: #2b2d31; border: 1px solid #4a4d55; border-radius: 8px; }"
            "QLabel { color: #f2f3f5; }"
            "QLabel#toastTitle { font-weight: 600; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        self.title = QLabel(objectName="toastTitle")
        self.body = QLabel(objectName="toastBody")
        self.body.setWordWrap(True)
        self.body.setMaximumWidth(360)
        layout.addWidget(self.title)
        layout.addWidget(self.body)
        self._timer = QTimer(self, singleShot=True, timeout=self.hide)

    def show_message(self, title: str, body: str, msecs: int) -> None:
        self.title.setText(title)
        self.body.setText(body)
        self.adjustSize()
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            self.move(area.right() - self.width() - 16, area.bottom() - self.height() - 16)
        self.show()
        self.raise_()
        self._timer.start(msecs)


class DesktopNotifier(Protocol):
    def notify(self, title: str, body: str, *, error: bool = ..., msecs: int = ...) -> bool: ...


class Notifier(QObject):
    shown = Signal(str, str)  # title, body: what the person was told

    def __init__(
        self,
        tray: QSystemTrayIcon | None = None,
        desktop: DesktopNotifier | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tray = tray
        self._desktop = desktop
        self._toast: Toast | None = None

    def close(self) -> None:
        """Let go of the notification daemon's connection (at quit)."""
        if self._desktop is not None and hasattr(self._desktop, "close"):
            self._desktop.close()

    def notify(self, title: str, body: str, *, error: bool = False, msecs: int = 4000) -> None:
        log.info("notice: %s: %s", title, body)
        tray = self._tray
        if self._desktop is not None and self._desktop.notify(
            title, body, error=error, msecs=msecs
        ):
            pass
        elif tray is not None and tray.isVisible() and QSystemTrayIcon.supportsMessages():
            icon = (
                QSystemTrayIcon.MessageIcon.Warning
                if error
                else QSystemTrayIcon.MessageIcon.Information
            )
            tray.showMessage(title, body, icon, msecs)
        else:
            if self._toast is None:
                self._toast = Toast()
            self._toast.show_message(title, body, msecs)
        self.shown.emit(title, body)
