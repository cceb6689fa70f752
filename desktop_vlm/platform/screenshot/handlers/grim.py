"""grim, the screenshot tool of wlroots compositors (sway, Hyprland, river, Wayfire)."""

from __future__ import annotations

import logging
import subprocess

from PySide6.QtGui import QImage

from desktop_vlm.core.errors import CaptureError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.screenshot.main import split_desktop
from desktop_vlm.platform.screenshot.models import ScreenGrab

logger = logging.getLogger(__name__)

INSTALL_HINT = "Install grim (e.g. sudo apt install grim), which works on sway and Hyprland"


def is_compatible() -> bool:
    return sysinfo.is_wayland()


def is_installed() -> bool:
    return sysinfo.which("grim") is not None


def grab(timeout: float = 10.0) -> list[ScreenGrab]:
    """The whole layout in one picture at the highest output scale, cut per screen.

    PPM on stdout: no temporary file, and no PNG compression to wait for.
    """
    grim = sysinfo.which("grim")
    if grim is None:
        raise CaptureError("grim is not installed", INSTALL_HINT)
    try:
        done = subprocess.run(
            [grim, "-t", "ppm", "-"], capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise CaptureError(
            f"grim did not finish within {timeout:g} s",
            "Check that the compositor is responsive, then try again",
        ) from None
    except OSError as err:
        raise CaptureError(f"grim could not be started: {err}", INSTALL_HINT) from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise CaptureError(
            f"grim failed: {reason}",
            "grim works only on wlroots compositors (sway, Hyprland); on other desktops "
            "choose the portal method",
        )
    image = QImage.fromData(done.stdout, "PPM")
    if image.isNull():
        raise CaptureError("grim's output is not an image", "Update grim, then try again")
    return split_desktop(image)
