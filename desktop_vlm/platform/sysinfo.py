"""Facts about the session the app runs in, probed once and cached.

Every platform decision (which screen-grab handler, which hint to give when none works) reads
these functions instead of the environment directly, so tests can change the environment and
call ``clear_caches()`` to make the next probe see it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys

logger = logging.getLogger(__name__)


@functools.cache
def platform() -> str:
    """``sys.platform``: "linux", "darwin", "win32", ... (a function so tests can patch it)."""
    return sys.platform


@functools.cache
def session_type() -> str:
    """The display server of a Linux/BSD session: "wayland", "x11" or "" when unknown.

    XDG_SESSION_TYPE is what the login manager says; WAYLAND_DISPLAY alone still means a Wayland
    compositor is there (a session started without a login manager, e.g. sway from a tty).
    """
    if platform() in ("darwin", "win32"):
        return ""
    declared = os.environ.get("XDG_SESSION_TYPE", "").strip().lower()
    if declared in ("wayland", "x11"):
        return declared
    if os.environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    if os.environ.get("DISPLAY"):
        return "x11"
    return ""


def is_wayland() -> bool:
    return session_type() == "wayland"


@functools.cache
def desktop() -> str:
    """The desktop environment in lower case: "gnome", "kde", "sway", "hyprland", ... or ""."""
    if os.environ.get("SWAYSOCK"):
        return "sway"
    if os.environ.get("HYPRLAND_INSTANCE_SIGNATURE"):
        return "hyprland"
    names = os.environ.get("XDG_CURRENT_DESKTOP", "") or os.environ.get("DESKTOP_SESSION", "")
    for name in names.lower().replace(";", ":").split(":"):
        for known in ("gnome", "kde", "sway", "hyprland", "wayfire", "river", "xfce", "lxqt"):
            if known in name:
                return known
    return names.lower().split(":")[0] if names else ""


def is_wlroots() -> bool:
    """Compositors built on wlroots, where grim works and the portal often has no backend."""
    return desktop() in ("sway", "hyprland", "wayfire", "river")


@functools.cache
def which(binary: str) -> str | None:
    """Absolute path of ``binary`` on PATH, or None."""
    return shutil.which(binary)


_CACHED = (platform, session_type, desktop, which)


def clear_caches() -> None:
    """Forget every probe, so the next call reads the environment again."""
    for probe in _CACHED:
        probe.cache_clear()
