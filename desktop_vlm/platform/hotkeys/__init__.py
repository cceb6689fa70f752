"""System-wide hotkeys that work while another program has the focus.

``GlobalHotkeys`` picks the backend this session supports: X11 key grabs, the xdg-desktop-portal
GlobalShortcuts interface on Wayland, or RegisterHotKey on Windows. Where none works (macOS,
Wayland without the portal) ``register`` raises HotkeyError telling the person to bind
``desktop-vlm capture`` in the desktop's own settings instead.
"""

from desktop_vlm.platform.hotkeys.main import GlobalHotkeys, available, backend_name, clear_caches
from desktop_vlm.platform.hotkeys.models import Shortcut, parse_shortcut

__all__ = [
    "GlobalHotkeys",
    "Shortcut",
    "available",
    "backend_name",
    "clear_caches",
    "parse_shortcut",
]
