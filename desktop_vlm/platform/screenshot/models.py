"""The shape every screen-grab handler shares."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from PySide6.QtCore import QRect
from PySide6.QtGui import QImage

from desktop_vlm.core.vocabulary import CAPTURE_METHOD_NAMES


@dataclass(frozen=True)
class ScreenGrab:
    """One screen's frozen image.

    ``geometry`` is the screen's geometry in Qt's logical (device-independent) coordinates, as
    ``QScreen.geometry()`` reports it. ``image`` holds the pixels actually captured, which may be
    larger than the geometry (device pixel ratio > 1) or, under some compositors, the same size.
    Map a rectangle drawn on the overlay back to image pixels with the ratio
    ``image.width() / geometry.width()``, never by trusting devicePixelRatio.
    """

    screen_name: str
    geometry: QRect
    image: QImage


#: Screen-grab backends (QT, PORTAL, GRIM, SPECTACLE); the order of the values is the order
#: of preference, from the one list of capture methods.
Handler = IntEnum("Handler", [name.upper() for name in CAPTURE_METHOD_NAMES if name != "auto"])


class HandlerModule(Protocol):
    """What each module in ``handlers/`` provides."""

    def is_compatible(self) -> bool:
        """True when this backend can work in this session (platform, display server)."""

    def is_installed(self) -> bool:
        """True when what the backend needs (a binary, a D-Bus service) is present."""

    def grab(self) -> list[ScreenGrab]:
        """One ScreenGrab per QScreen, or raise desktop_vlm.core.errors.CaptureError."""
