"""An independent X11/Wayland client that shows random noise, so screen grabs have content.

``python screenshot_pattern.py --geometry X,Y,W,H --seed N`` opens a frameless window at that
place (a tiling compositor may resize it) showing ``noise_image(W, H, seed)`` and prints "ready"
once it has painted. Noise makes every misplaced, scaled or shifted pixel show up as a mismatch.
"""

from __future__ import annotations

import argparse
import random
import sys

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QImage, QPainter, QRasterWindow


def noise_image(width: int, height: int, seed: int) -> QImage:
    data = random.Random(seed).randbytes(width * height * 3)
    return QImage(data, width, height, width * 3, QImage.Format.Format_RGB888).copy()


class NoiseWindow(QRasterWindow):
    def __init__(self, noise: QImage) -> None:
        super().__init__()
        self.noise = noise
        self.announced = False

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.drawImage(QRect(0, 0, self.width(), self.height()), self.noise)
        painter.end()
        if not self.announced:
            self.announced = True
            QTimer.singleShot(0, lambda: print("ready", flush=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--geometry", required=True, help="X,Y,W,H in logical pixels")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    x, y, width, height = (int(v) for v in args.geometry.split(","))
    app = QGuiApplication(sys.argv[:1])
    window = NoiseWindow(noise_image(width, height, args.seed))
    window.setFlags(Qt.WindowType.FramelessWindowHint)
    window.setGeometry(x, y, width, height)
    window.show()
    sys.exit(app.exec())


if __name__ == "__main__":
    main()
