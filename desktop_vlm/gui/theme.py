"""Colours from the desktop's own palette, light or dark, so every window follows the theme.

Widgets use ``palette(...)`` in their style sheets; text documents (the transcript) cannot, so
their colours are computed here from the palette and recomputed when it changes. Each accent is
checked against the background and pushed lighter or darker until it reads (WCAG contrast 4.5).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QGuiApplication, QPalette


@dataclass(frozen=True)
class Colors:
    text: QColor
    background: QColor
    muted: QColor
    accent: QColor
    error: QColor
    warning_background: QColor
    code_background: QColor
    dark: bool

    def css(self) -> str:
        """The transcript's default style sheet."""
        return (
            f".meta {{ color: {self.muted.name()}; }}"
            f".who {{ color: {self.accent.name()}; font-weight: 600; }}"
            f".label {{ color: {self.muted.name()}; }}"
            f".error {{ color: {self.error.name()}; }}"
            f"a {{ color: {self.accent.name()}; text-decoration: none; }}"
            f"code {{ background-color: {self.code_background.name()}; }}"
            f".flag {{ background-color: {self.warning_background.name()}; }}"
        )


def colors(palette: QPalette | None = None) -> Colors:
    palette = palette or QGuiApplication.palette()
    background = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.Text)
    dark = background.lightnessF() < 0.5
    muted = _mix(text, background, 0.62)
    accent = readable(palette.color(QPalette.ColorRole.Link), background)
    error = readable(QColor("#e5534b") if dark else QColor("#b3261e"), background)
    warning = QColor("#5c4a00") if dark else QColor("#fff1b8")
    code = _mix(text, background, 0.08 if not dark else 0.14)
    return Colors(
        text, background, _ensure(muted, background, 4.5), accent, error, warning, code, dark
    )


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""
    la, lb = _luminance(a), _luminance(b)
    high, low = max(la, lb), min(la, lb)
    return (high + 0.05) / (low + 0.05)


def readable(color: QColor, background: QColor, ratio: float = 4.5) -> QColor:
    """``color``, made lighter (on dark) or darker (on light) until it reads on ``background``."""
    return _ensure(color, background, ratio)


def _ensure(color: QColor, background: QColor, ratio: float) -> QColor:
    toward = QColor("white") if background.lightnessF() < 0.5 else QColor("black")
    candidate = QColor(color)
    for step in range(1, 21):
        if contrast(candidate, background) >= ratio:
            return candidate
        candidate = _mix(color, toward, 1 - step / 20)
    return toward


def _mix(a: QColor, b: QColor, weight_a: float) -> QColor:
    w = max(0.0, min(1.0, weight_a))
    return QColor.fromRgbF(
        a.redF() * w + b.redF() * (1 - w),
        a.greenF() * w + b.greenF() * (1 - w),
        a.blueF() * w + b.blueF() * (1 - w),
    )


def _luminance(color: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(color.redF())
        + 0.7152 * channel(color.greenF())
        + 0.0722 * channel(color.blueF())
    )
