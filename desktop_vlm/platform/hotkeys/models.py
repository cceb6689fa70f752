"""What every hotkey backend shares: the parsed shortcut and the backend's shape.

Each module in ``handlers/`` (``x11``, ``portal``, ``windows``) provides ``is_compatible()``
(right platform and session), ``is_installed()`` (what it needs is there) and a ``Backend``
class with the methods of ``HotkeyBackend``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from desktop_vlm.core.errors import HotkeyError

#: Called with the action id when a registered hotkey is pressed.
ActivatedCallback = Callable[[str], None]

SETTINGS_HINT = "Choose another shortcut in Settings → Hotkeys."
#: Where the app cannot have a global hotkey, the desktop can run the command on a shortcut.
README_HINT = (
    "Bind `desktop-vlm capture` to a keyboard shortcut in your desktop's settings "
    "(see README, Shortcuts)."
)

# Qt's portable names of keys outside Latin-1, mapped to X keysym names (which are also the
# xkbcommon names the XDG shortcuts specification uses for portal triggers).
_SPECIAL_KEYSYMS: dict[Qt.Key, str] = {
    Qt.Key.Key_Escape: "Escape",
    Qt.Key.Key_Tab: "Tab",
    Qt.Key.Key_Backspace: "BackSpace",
    Qt.Key.Key_Return: "Return",
    Qt.Key.Key_Enter: "KP_Enter",
    Qt.Key.Key_Insert: "Insert",
    Qt.Key.Key_Delete: "Delete",
    Qt.Key.Key_Pause: "Pause",
    Qt.Key.Key_Print: "Print",
    Qt.Key.Key_SysReq: "Sys_Req",
    Qt.Key.Key_Home: "Home",
    Qt.Key.Key_End: "End",
    Qt.Key.Key_Left: "Left",
    Qt.Key.Key_Up: "Up",
    Qt.Key.Key_Right: "Right",
    Qt.Key.Key_Down: "Down",
    Qt.Key.Key_PageUp: "Prior",
    Qt.Key.Key_PageDown: "Next",
    Qt.Key.Key_Menu: "Menu",
    Qt.Key.Key_Help: "Help",
    Qt.Key.Key_Calculator: "XF86Calculator",
    Qt.Key.Key_VolumeDown: "XF86AudioLowerVolume",
    Qt.Key.Key_VolumeMute: "XF86AudioMute",
    Qt.Key.Key_VolumeUp: "XF86AudioRaiseVolume",
    Qt.Key.Key_MediaPlay: "XF86AudioPlay",
    Qt.Key.Key_MediaStop: "XF86AudioStop",
    Qt.Key.Key_MediaPrevious: "XF86AudioPrev",
    Qt.Key.Key_MediaNext: "XF86AudioNext",
}
_SPECIAL_KEYSYMS.update({Qt.Key(Qt.Key.Key_F1.value + n): f"F{n + 1}" for n in range(35)})

# ASCII punctuation by X keysym name; letters and digits are their own names.
_ASCII_KEYSYMS = dict(
    zip(
        " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        [
            "space",
            "exclam",
            "quotedbl",
            "numbersign",
            "dollar",
            "percent",
            "ampersand",
            "apostrophe",
            "parenleft",
            "parenright",
            "asterisk",
            "plus",
            "comma",
            "minus",
            "period",
            "slash",
            "colon",
            "semicolon",
            "less",
            "equal",
            "greater",
            "question",
            "at",
            "bracketleft",
            "backslash",
            "bracketright",
            "asciicircum",
            "underscore",
            "grave",
            "braceleft",
            "bar",
            "braceright",
            "asciitilde",
        ],
        strict=True,
    )
)

_MODIFIERS = (
    (Qt.KeyboardModifier.ControlModifier, "ctrl"),
    (Qt.KeyboardModifier.ShiftModifier, "shift"),
    (Qt.KeyboardModifier.AltModifier, "alt"),
    (Qt.KeyboardModifier.MetaModifier, "meta"),
)
_MODIFIER_KEYS = {
    Qt.Key.Key_Control,
    Qt.Key.Key_Shift,
    Qt.Key.Key_Alt,
    Qt.Key.Key_Meta,
    Qt.Key.Key_AltGr,
    Qt.Key.Key_Super_L,
    Qt.Key.Key_Super_R,
    Qt.Key.Key_CapsLock,
    Qt.Key.Key_NumLock,
    Qt.Key.Key_ScrollLock,
}


@dataclass(frozen=True)
class Shortcut:
    """One key with modifiers, as every backend needs it.

    ``text`` is Qt's portable text ("Ctrl+Alt+O"), used in every message a person reads.
    ``keysym_name`` is the X/xkbcommon keysym name of the key ("o", "F12", "Print", "comma",
    "U00E4"); ``qt_key`` is Qt's key code, from which the Windows backend takes its virtual key.
    """

    text: str
    modifiers: frozenset[str]
    keysym_name: str
    qt_key: int


def invalid_shortcut(text: str) -> HotkeyError:
    return HotkeyError(
        f'"{text}" is not a shortcut desktop-vlm can register',
        'Write one key with modifiers, like "Ctrl+Alt+O", "Meta+Shift+T" or "Print", '
        "in Settings → Hotkeys.",
    )


def parse_shortcut(text: str) -> Shortcut:
    """Parse Qt's portable key-sequence text; raise HotkeyError naming ``text`` if it is not one.

    "Super" and "Win" are accepted for Qt's "Meta" (the key with the Windows logo).
    """
    cleaned = re.sub(r"(?i)\b(super|win)\+", "Meta+", text.strip())
    sequence = QKeySequence.fromString(cleaned, QKeySequence.SequenceFormat.PortableText)
    if not cleaned or sequence.count() != 1:
        raise invalid_shortcut(text)
    combination = sequence[0]
    key = combination.key()
    modifiers = combination.keyboardModifiers()
    if key == Qt.Key.Key_unknown or key in _MODIFIER_KEYS:
        raise invalid_shortcut(text)
    if modifiers & Qt.KeyboardModifier.KeypadModifier:
        raise invalid_shortcut(text)
    keysym_name = _keysym_name(key)
    if keysym_name is None:
        raise invalid_shortcut(text)
    return Shortcut(
        text=sequence.toString(QKeySequence.SequenceFormat.PortableText),
        modifiers=frozenset(name for flag, name in _MODIFIERS if modifiers & flag),
        keysym_name=keysym_name,
        qt_key=key.value,
    )


def _keysym_name(key: Qt.Key) -> str | None:
    if key in _SPECIAL_KEYSYMS:
        return _SPECIAL_KEYSYMS[key]
    code = key.value
    if code >= 0x01000000:
        return None
    char = chr(code).lower()
    if char.isascii() and char.isalnum():
        return char
    if char in _ASCII_KEYSYMS:
        return _ASCII_KEYSYMS[char]
    if code < 0xA0:
        return None
    # Xlib and xkbcommon both read "U+hex" names, and give Latin-1 keysyms for code points
    # below 0x100, so one rule covers every other character key.
    return f"U{ord(char):04X}"


class HotkeyBackend(Protocol):
    """A live connection to the desktop's hotkey service, owned by one GlobalHotkeys."""

    def register(self, action_id: str, shortcut: Shortcut) -> None:
        """Make ``shortcut`` call back with ``action_id``, or raise HotkeyError."""

    def unregister(self, action_id: str) -> None:
        """Release the shortcut of ``action_id``; nothing happens if it has none."""

    def close(self) -> None:
        """Release every shortcut and the connection; the backend is unusable afterwards."""
