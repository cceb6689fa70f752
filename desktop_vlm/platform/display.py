"""Is there a display to show windows on? Asked before Qt starts, because Qt aborts the process
(exit 134, with a misleading hint about libxcb-cursor0) when it finds none."""

from __future__ import annotations

import os
import re
import sys


def problem() -> str:
    """Why no window can be shown here, in one line ("" when a display is there)."""
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM", "") in (
        "offscreen",
        "minimal",
        "vnc",
    ):
        return ""
    wayland = os.environ.get("WAYLAND_DISPLAY", "")
    if wayland:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        path = wayland if os.path.isabs(wayland) else os.path.join(runtime, wayland)
        if os.path.exists(path):
            return ""
    display = os.environ.get("DISPLAY", "")
    if not display and not wayland:
        return (
            "no graphical display (DISPLAY and WAYLAND_DISPLAY are not set): start desktop-vlm "
            "from your desktop session; in a terminal without one, use `desktop-vlm ask IMAGE`"
        )
    local = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    sockets = "/tmp/.X11-unix"
    if local and os.path.isdir(sockets) and not os.path.exists(f"{sockets}/X{local.group(1)}"):
        return (
            f"the X display {display} is not running: start desktop-vlm from your desktop session"
        )
    return ""
