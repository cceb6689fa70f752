"""Grab every screen as an image, with whatever method works in this session.

``grab_screens()`` tries Qt's own grab (X11, Windows, macOS), then the XDG desktop portal, grim
and spectacle (Wayland), and raises ``CaptureError`` saying what to install or allow when none
works. A setting or command-line flag can force one method by name.
"""

from desktop_vlm.core.errors import CaptureError
from desktop_vlm.platform.screenshot.main import grab_screens
from desktop_vlm.platform.screenshot.models import Handler, ScreenGrab

__all__ = ["CaptureError", "Handler", "ScreenGrab", "grab_screens"]
