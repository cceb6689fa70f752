"""The app's small lists of names, written once: commands the running app takes, and the
screen-grab methods. The command line, the single-instance socket, the config schema, the
settings dialog and the screen-grab code all import them from here.

Standard library only and nothing else imported: the `desktop-vlm capture` hand-off reads this
module on its fast path.
"""

from __future__ import annotations

#: Commands the running tray app takes over its socket (``show`` is plain ``desktop-vlm``).
APP_COMMANDS = ("show", "capture", "clipboard", "quit", "settings")
#: Commands of the command line that are handed to the running app (starting it if needed).
FORWARDED_COMMANDS = ("capture", "clipboard", "quit")
#: Screen-grab methods by setting name, best first after "auto", with what a person reads.
CAPTURE_METHODS: tuple[tuple[str, str], ...] = (
    ("auto", "Automatic"),
    ("qt", "Qt screen grab (X11, Windows, macOS)"),
    ("portal", "Desktop portal (Wayland)"),
    ("grim", "grim (Sway and other wlroots desktops)"),
    ("spectacle", "Spectacle (KDE Plasma)"),
)
CAPTURE_METHOD_NAMES = tuple(name for name, _ in CAPTURE_METHODS)
