"""Small pieces every settings page uses: a row of widgets, and failures in words."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QAbstractButton, QHBoxLayout, QWidget

from desktop_vlm.core.errors import VlmError

log = logging.getLogger(__name__)


def in_words(error: BaseException) -> str:
    if isinstance(error, VlmError):
        return str(error)
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return f"Could not write{where} ({error.strerror or error}). Check that it is writable"
    log.error("unexpected error in the settings dialog", exc_info=error)
    return f"Unexpected error ({type(error).__name__}); see the log file"


def row(*widgets: QWidget | QAbstractButton, stretch: bool = False) -> QWidget:
    """Widgets side by side in one form row, without extra margins."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    if stretch:
        layout.addStretch(1)
    return box
