"""Global hotkeys on Windows: RegisterHotKey and the WM_HOTKEY thread message.

UNTESTED: written from the Win32 documentation (RegisterHotKey, UnregisterHotKey, WM_HOTKEY,
VkKeyScanW) and Qt's (QAbstractNativeEventFilter: hotkey messages reach the filter as
"windows_dispatcher_MSG"); no Windows machine ran it. Keep it small.
"""

from __future__ import annotations

import ctypes
import itertools
import logging

from PySide6.QtCore import QAbstractNativeEventFilter, QCoreApplication, Qt

from desktop_vlm.core.errors import HotkeyError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.hotkeys.models import SETTINGS_HINT, ActivatedCallback, Shortcut

logger = logging.getLogger(__name__)

WM_HOTKEY = 0x0312
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
MOD_ALT, MOD_CONTROL, MOD_SHIFT, MOD_WIN, MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
MODIFIERS = {"alt": MOD_ALT, "ctrl": MOD_CONTROL, "shift": MOD_SHIFT, "meta": MOD_WIN}

_VIRTUAL_KEYS = {
    Qt.Key.Key_Escape: 0x1B,
    Qt.Key.Key_Tab: 0x09,
    Qt.Key.Key_Backspace: 0x08,
    Qt.Key.Key_Return: 0x0D,
    Qt.Key.Key_Enter: 0x0D,
    Qt.Key.Key_Space: 0x20,
    Qt.Key.Key_PageUp: 0x21,
    Qt.Key.Key_PageDown: 0x22,
    Qt.Key.Key_End: 0x23,
    Qt.Key.Key_Home: 0x24,
    Qt.Key.Key_Left: 0x25,
    Qt.Key.Key_Up: 0x26,
    Qt.Key.Key_Right: 0x27,
    Qt.Key.Key_Down: 0x28,
    Qt.Key.Key_Print: 0x2C,
    Qt.Key.Key_Insert: 0x2D,
    Qt.Key.Key_Delete: 0x2E,
    Qt.Key.Key_Pause: 0x13,
    Qt.Key.Key_Menu: 0x5D,
}
_VIRTUAL_KEYS.update({Qt.Key(Qt.Key.Key_F1.value + n): 0x70 + n for n in range(24)})

_hotkey_ids = itertools.count(0x0100)


def is_compatible() -> bool:
    return sysinfo.platform() == "win32"


def is_installed() -> bool:
    return True


def clear_caches() -> None:
    pass


def virtual_key(shortcut: Shortcut) -> int:
    """The Windows virtual-key code of the shortcut's key, or 0 if this layout has none."""
    key = Qt.Key(shortcut.qt_key)
    if key in _VIRTUAL_KEYS:
        return _VIRTUAL_KEYS[key]
    code = shortcut.qt_key
    if ord("A") <= code <= ord("Z") or ord("0") <= code <= ord("9"):
        return code  # letters and digits are their own (upper-case) virtual keys
    if code < 0x01000000:
        scan = ctypes.windll.user32.VkKeyScanW(ctypes.c_wchar(chr(code).lower()))
        return 0 if scan == -1 else scan & 0xFF
    return 0


class _HotkeyFilter(QAbstractNativeEventFilter):
    def __init__(self, on_hotkey: ActivatedCallback) -> None:
        super().__init__()
        self._on_hotkey = on_hotkey

    def nativeEventFilter(self, event_type: object, message: object) -> tuple[bool, int]:
        # Thread messages (hWnd NULL, as WM_HOTKEY here) come as "windows_dispatcher_MSG";
        # ``message`` is a pointer to the MSG. PySide wants (filtered, LRESULT) back.
        if bytes(event_type) in (b"windows_dispatcher_MSG", b"windows_generic_MSG"):
            from ctypes import wintypes

            msg = wintypes.MSG.from_address(int(message))
            if msg.message == WM_HOTKEY:
                self._on_hotkey(int(msg.wParam))
                return True, 0
        return False, 0


class Backend:
    """Hotkeys registered for the GUI thread; WM_HOTKEY arrives as a thread message."""

    def __init__(self, on_activated: ActivatedCallback) -> None:
        self._user32 = ctypes.WinDLL("user32", use_last_error=True)
        self._on_activated = on_activated
        self._ids: dict[str, int] = {}
        self._filter = _HotkeyFilter(self._hotkey_pressed)
        QCoreApplication.instance().installNativeEventFilter(self._filter)

    def register(self, action_id: str, shortcut: Shortcut) -> None:
        vk = virtual_key(shortcut)
        if not vk:
            raise HotkeyError(
                f"{shortcut.text} cannot be typed with this keyboard layout", SETTINGS_HINT
            )
        modifiers = MOD_NOREPEAT
        for name in shortcut.modifiers:
            modifiers |= MODIFIERS[name]
        hotkey_id = next(_hotkey_ids)
        # hWnd NULL: the hotkey belongs to this (the GUI) thread's message queue.
        if not self._user32.RegisterHotKey(None, hotkey_id, modifiers, vk):
            error = ctypes.get_last_error()
            if error == ERROR_HOTKEY_ALREADY_REGISTERED:
                raise HotkeyError(
                    f"{shortcut.text} is already taken by another program", SETTINGS_HINT
                )
            raise HotkeyError(f"Windows refused {shortcut.text} (error {error})", SETTINGS_HINT)
        self.unregister(action_id)
        self._ids[action_id] = hotkey_id

    def unregister(self, action_id: str) -> None:
        hotkey_id = self._ids.pop(action_id, None)
        if hotkey_id is not None:
            self._user32.UnregisterHotKey(None, hotkey_id)

    def close(self) -> None:
        for action_id in list(self._ids):
            self.unregister(action_id)
        app = QCoreApplication.instance()
        if app is not None and self._filter is not None:
            app.removeNativeEventFilter(self._filter)
        self._filter = None

    def _hotkey_pressed(self, hotkey_id: int) -> None:
        for action_id, registered in self._ids.items():
            if registered == hotkey_id:
                self._on_activated(action_id)
                return
