"""Qt's own grab of each screen: X11, Windows and macOS (never Wayland, where it is black)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from PySide6.QtGui import QGuiApplication

from desktop_vlm.core.errors import CaptureError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.screenshot.models import ScreenGrab

logger = logging.getLogger(__name__)

INSTALL_HINT = ""


def is_compatible() -> bool:
    return not sysinfo.is_wayland()


def is_installed() -> bool:
    return True


def grab(timeout: float = 10.0) -> list[ScreenGrab]:
    """``QScreen.grabWindow(0)`` per screen: on X11 that is the root window's part under the
    screen, in device pixels, also when several monitors share one X screen."""
    del timeout  # Qt's grab does not wait for anyone.
    if sysinfo.platform() == "darwin":
        _require_macos_screen_recording()
    grabs = []
    for screen in QGuiApplication.screens():
        image = screen.grabWindow(0).toImage()
        if image.isNull():
            raise CaptureError(
                f"Qt could not grab the screen {screen.name()}",
                "Try another screen-grab method in the settings",
            )
        grabs.append(ScreenGrab(screen.name(), screen.geometry(), image))
    return grabs


# --- macOS (untested here: no Mac in CI) -------------------------------------------------------


def _require_macos_screen_recording() -> None:
    """Without the Screen Recording permission macOS hands out the wallpaper without any window,
    which looks like a capture but is not; ask CoreGraphics first (macOS 10.15+)."""
    library = ctypes.util.find_library("CoreGraphics")
    if library is None:
        logger.debug("CoreGraphics not found; cannot ask macOS about Screen Recording")
        return
    try:
        graphics = ctypes.cdll.LoadLibrary(library)
        graphics.CGPreflightScreenCaptureAccess.restype = ctypes.c_bool
        graphics.CGRequestScreenCaptureAccess.restype = ctypes.c_bool
    except (OSError, AttributeError):
        logger.debug("Cannot ask macOS about Screen Recording; assuming it is allowed")
        return
    if graphics.CGPreflightScreenCaptureAccess():
        return
    # Puts the app into the settings list (and shows the system prompt the first time).
    graphics.CGRequestScreenCaptureAccess()
    raise CaptureError(
        "macOS does not allow desktop-vlm to record the screen",
        "Allow Screen Recording for desktop-vlm in System Settings → Privacy & Security, "
        "then restart the app",
    )
