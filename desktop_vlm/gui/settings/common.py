"""Small pieces every settings page uses: a row of widgets, a label that wraps to the height it
needs, and failures in words."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QAbstractButton, QHBoxLayout, QLabel, QWidget

from desktop_vlm.core.config import Profile
from desktop_vlm.core.errors import VlmError
from desktop_vlm.core.urls import needs_key

log = logging.getLogger(__name__)


class WrappingLabel(QLabel):
    """A word-wrapped label as tall as its text at the width it has: a form layout sizes rows
    by the size hint, and QLabel's hint is for a narrow width (one short line took three)."""

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(text, **kwargs)
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        hint = super().sizeHint()
        if self.isVisible() and self.text():  # laid out: its width is the real one
            return QSize(hint.width(), self.heightForWidth(self.width()))
        return hint

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's signature
        super().resizeEvent(event)
        self.updateGeometry()  # the height it needs changed with the width


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


def connection_summary(models: list[str], is_vision: Callable[[str], bool]) -> str:
    vision = sum(1 for m in models if is_vision(m))
    return f"Connected: {_count(len(models), 'model')}, {_count(vision, 'vision model')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def profile_label(profile: Profile) -> str:
    title = profile.title
    return title if title == profile.name or profile.offline else f"{title} ({profile.name})"


def key_status_text(source: Any, base_url: str = "") -> str:
    """Where the key comes from, in words; never the key."""
    if source.kind == "env":
        name = source.detail.rsplit(" ", 1)[-1]
        return f"From {name} (the environment overrides the keyring)"
    if source.kind == "keyring":
        return "Stored in the keyring"
    if not needs_key(base_url):
        return "Not set (a server on this machine usually needs none)"
    return "Not set"
