"""A window of monospace text read from stdin, at X Y, as another program on the desktop shows
it (something to capture). Usage: ``python text_window.py X Y light|dark < text``; prints
READY once it is on screen and runs until terminated."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel


def main() -> int:
    x, y, theme = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    text = sys.stdin.read()
    app = QApplication(sys.argv[:1])
    label = QLabel(text)
    font = QFont("DejaVu Sans Mono")
    font.setPixelSize(16)
    label.setFont(font)
    colors = ("#1e1f22", "#e8e8e8") if theme == "dark" else ("#fffdf7", "#222222")
    label.setStyleSheet(f"background: {colors[0]}; color: {colors[1]}; padding: 24px;")
    label.setWindowTitle("Receipt")
    label.move(x, y)
    label.show()
    QTimer.singleShot(300, lambda: (sys.stdout.write("READY\n"), sys.stdout.flush()))
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
