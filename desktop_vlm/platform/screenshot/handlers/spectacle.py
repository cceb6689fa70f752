"""KDE's spectacle in background mode (Wayland sessions without a working portal).

Untested here: spectacle needs a running KDE session, which CI does not have.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path

from PySide6.QtGui import QImage

from desktop_vlm.core.errors import CaptureError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.screenshot.main import split_desktop
from desktop_vlm.platform.screenshot.models import ScreenGrab

logger = logging.getLogger(__name__)

INSTALL_HINT = "Install spectacle (KDE's screenshot tool), or xdg-desktop-portal-kde"


def is_compatible() -> bool:
    return sysinfo.is_wayland()


def is_installed() -> bool:
    return sysinfo.which("spectacle") is not None


def grab(timeout: float = 10.0) -> list[ScreenGrab]:
    spectacle = sysinfo.which("spectacle")
    if spectacle is None:
        raise CaptureError("spectacle is not installed", INSTALL_HINT)
    # A private directory: the picture of the whole desktop is nobody else's business.
    with tempfile.TemporaryDirectory(prefix="desktop-vlm-") as folder:
        target = Path(folder) / "screen.png"
        # -b background, -n no notification, -f full screen (all monitors), -o output file.
        command = [spectacle, "-b", "-n", "-f", "-o", str(target)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CaptureError(
                f"spectacle did not finish within {timeout:g} s", "Try the portal method instead"
            ) from None
        image = QImage(str(target))
    if done.returncode != 0 or image.isNull():
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}, no image"
        raise CaptureError(f"spectacle failed: {reason}", "Try the portal method instead")
    return split_desktop(image)
