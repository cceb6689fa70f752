"""Put a known random-noise image on the X display, as an independent client would.

Usage: ``python overlay_pattern.py X Y WIDTH HEIGHT SEED OUT.png``. The window is override-redirect
(no window manager moves it) at exactly X,Y in physical pixels; the noise is also written to
OUT.png so a test can check the screen shows it. Prints ``READY`` once the window is exposed and
runs until terminated. Noise, because any off-by-one pixel shift then changes the crop.
"""

from __future__ import annotations

import random
import sys

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QApplication, QWidget


def noise(width: int, height: int, seed: int) -> QImage:
    data = random.Random(seed).randbytes(width * height * 3)
    return QImage(data, width, height, width * 3, QImage.Format.Format_RGB888).copy()


class PatternWindow(QWidget):
    def __init__(self, image: QImage) -> None:
        super().__init__()
        self.setWindowFlags(
            Qt.WindowType.FramelessWindowHint | Qt.WindowType.BypassWindowManagerHint
        )
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._image = image

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        QPainter(self).drawImage(0, 0, self._image)


def report_ready() -> None:
    sys.stdout.write("READY\n")
    sys.stdout.flush()


class ExposeWatcher(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Expose and watched.isExposed():
            QTimer.singleShot(0, report_ready)  # queued: the window paints after the filters
        return False


def main() -> int:
    x, y, width, height, seed = (int(value) for value in sys.argv[1:6])
    app = QApplication(sys.argv[:1])
    image = noise(width, height, seed)
    image.save(sys.argv[6])
    window = PatternWindow(image)
    window.setGeometry(x, y, width, height)
    window.winId()
    watcher = ExposeWatcher()
    window.windowHandle().installEventFilter(watcher)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
