"""Global hotkeys on X11: passive key grabs on the root window, through libX11 with ctypes.

The grabs live on a private Display connection, so they never mix with Qt's own connection, and
closing that connection releases them all. Key presses arrive on its socket, watched by a
QSocketNotifier: no thread, no polling timer.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
from collections.abc import Iterator

from PySide6.QtCore import QSocketNotifier

from desktop_vlm.core.errors import HotkeyError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.hotkeys.models import (
    SETTINGS_HINT,
    ActivatedCallback,
    Shortcut,
    invalid_shortcut,
)

logger = logging.getLogger(__name__)

# From X11/X.h.
KEY_PRESS = 2
KEY_RELEASE = 3
SHIFT_MASK = 1 << 0
LOCK_MASK = 1 << 1
CONTROL_MASK = 1 << 2
MOD1_MASK = 1 << 3
MOD4_MASK = 1 << 6
ALL_MODIFIER_MASKS = 0xFF
GRAB_MODE_ASYNC = 1
BAD_ACCESS = 10

MODIFIER_MASKS = {
    "ctrl": CONTROL_MASK,
    "shift": SHIFT_MASK,
    "alt": MOD1_MASK,
    "meta": MOD4_MASK,
}


class XErrorEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong),
        ("error_code", ctypes.c_ubyte),
        ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    ]


class XKeyEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("root", ctypes.c_ulong),
        ("subwindow", ctypes.c_ulong),
        ("time", ctypes.c_ulong),
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("x_root", ctypes.c_int),
        ("y_root", ctypes.c_int),
        ("state", ctypes.c_uint),
        ("keycode", ctypes.c_uint),
        ("same_screen", ctypes.c_int),
    ]


class XEvent(ctypes.Union):
    # Xlib's XEvent is a union padded to 24 longs; only key events matter here.
    _fields_ = [("type", ctypes.c_int), ("xkey", XKeyEvent), ("pad", ctypes.c_long * 24)]


class XModifierKeymap(ctypes.Structure):
    _fields_ = [("max_keypermod", ctypes.c_int), ("modifiermap", ctypes.POINTER(ctypes.c_ubyte))]


ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(XErrorEvent))

# Xlib's error handler is process-wide; errors of displays being watched land in their list.
_trapped: dict[int, list[int]] = {}


def _on_x_error(display: int | None, event: ctypes._Pointer) -> int:
    error = event.contents
    sink = _trapped.get(display or 0)
    if sink is not None:
        sink.append(error.error_code)
    else:
        logger.warning(
            "X error %s (request %s) on a connection that is not ours; ignored",
            error.error_code,
            error.request_code,
        )
    return 0


# Module-level so the C callback outlives every call that installs it (ctypes does not keep it).
_ERROR_HANDLER = ERROR_HANDLER(_on_x_error)


@functools.cache
def _libx11() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("X11")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        logger.warning("libX11 was found as %s but could not be loaded", name)
        return None
    void_p, c_int, c_uint, c_ulong = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong
    signatures = {
        "XOpenDisplay": ([ctypes.c_char_p], void_p),
        "XCloseDisplay": ([void_p], c_int),
        "XDefaultRootWindow": ([void_p], c_ulong),
        "XConnectionNumber": ([void_p], c_int),
        "XStringToKeysym": ([ctypes.c_char_p], c_ulong),
        "XKeysymToKeycode": ([void_p, c_ulong], ctypes.c_ubyte),
        "XGrabKey": ([void_p, c_int, c_uint, c_ulong, c_int, c_int, c_int], c_int),
        "XUngrabKey": ([void_p, c_int, c_uint, c_ulong], c_int),
        "XSync": ([void_p, c_int], c_int),
        "XPending": ([void_p], c_int),
        "XNextEvent": ([void_p, ctypes.POINTER(XEvent)], c_int),
        "XSetErrorHandler": ([void_p], void_p),
        "XGetModifierMapping": ([void_p], ctypes.POINTER(XModifierKeymap)),
        "XFreeModifiermap": ([ctypes.POINTER(XModifierKeymap)], c_int),
        "XkbSetDetectableAutoRepeat": ([void_p, c_int, ctypes.POINTER(c_int)], c_int),
    }
    for function, (argtypes, restype) in signatures.items():
        getattr(lib, function).argtypes = argtypes
        getattr(lib, function).restype = restype
    return lib


def is_compatible() -> bool:
    platform = sysinfo.platform()
    is_unix = platform.startswith("linux") or "bsd" in platform
    return is_unix and sysinfo.session_type() == "x11"


def is_installed() -> bool:
    return _libx11() is not None


def clear_caches() -> None:
    _libx11.cache_clear()


@contextlib.contextmanager
def _trap_errors(lib: ctypes.CDLL, display: int) -> Iterator[list[int]]:
    """Collect the X error codes caused by the requests sent inside the block.

    Xlib reports errors asynchronously, so the block ends with XSync to receive them all. Xlib's
    default handler would exit the process on the first BadAccess.
    """
    errors: list[int] = []
    _trapped[display] = errors
    previous = lib.XSetErrorHandler(_ERROR_HANDLER)
    try:
        lib.XSync(display, False)
        errors.clear()  # errors of earlier requests are not the block's
        yield errors
        lib.XSync(display, False)
    finally:
        lib.XSetErrorHandler(previous)
        del _trapped[display]


def _modifier_mask_of(lib: ctypes.CDLL, display: int, keysym_name: bytes) -> int:
    """The modifier bit a lock key (Num_Lock, Scroll_Lock) is mapped to, or 0 if none."""
    keycode = lib.XKeysymToKeycode(display, lib.XStringToKeysym(keysym_name))
    if not keycode:
        return 0
    keymap = lib.XGetModifierMapping(display)
    try:
        per_modifier = keymap.contents.max_keypermod
        for modifier in range(8):
            for slot in range(per_modifier):
                if keymap.contents.modifiermap[modifier * per_modifier + slot] == keycode:
                    return 1 << modifier
    finally:
        lib.XFreeModifiermap(keymap)
    return 0


def _lock_combinations(locks: list[int]) -> list[int]:
    """Every combination of the lock modifiers, so a hotkey works whatever lock is on."""
    combinations = {0}
    for lock in locks:
        combinations |= {combination | lock for combination in combinations}
    return sorted(combinations)


class Backend:
    """Grabs on a private X connection; ``close()`` (or garbage collection) releases them."""

    def __init__(self, on_activated: ActivatedCallback) -> None:
        lib = _libx11()
        if lib is None:
            raise HotkeyError(
                "Global hotkeys need libX11, which is not installed",
                "Install your distribution's libx11 package.",
            )
        display = lib.XOpenDisplay(None)
        if not display:
            raise HotkeyError(
                f"Could not connect to the X display {os.environ.get('DISPLAY', '(unset)')!r}",
                "Start desktop-vlm from inside your desktop session.",
            )
        self._lib = lib
        self._display: int | None = display
        self._on_activated = on_activated
        self._root = lib.XDefaultRootWindow(display)
        # Without this, a held key repeats as release/press pairs; with it, only as presses,
        # which ``_held`` recognises.
        lib.XkbSetDetectableAutoRepeat(display, True, None)
        locks = [LOCK_MASK]
        for lock_key in (b"Num_Lock", b"Scroll_Lock"):
            mask = _modifier_mask_of(lib, display, lock_key)
            if mask and mask not in locks and mask not in MODIFIER_MASKS.values():
                locks.append(mask)
        self._lock_masks = _lock_combinations(locks)
        self._ignored = functools.reduce(int.__or__, locks)
        self._grabs: dict[str, tuple[int, int]] = {}
        self._held: set[int] = set()
        self._event = XEvent()
        self._notifier = QSocketNotifier(lib.XConnectionNumber(display), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._drain)
        logger.debug("X11 hotkeys on display %s, lock masks %s", display, locks)

    def register(self, action_id: str, shortcut: Shortcut) -> None:
        display = self._require_display()
        keysym = self._lib.XStringToKeysym(shortcut.keysym_name.encode())
        if not keysym:
            raise invalid_shortcut(shortcut.text)
        keycode = self._lib.XKeysymToKeycode(display, keysym)
        if not keycode:
            raise HotkeyError(
                f"{shortcut.text} cannot be typed with this keyboard layout", SETTINGS_HINT
            )
        mask = functools.reduce(int.__or__, (MODIFIER_MASKS[m] for m in shortcut.modifiers), 0)
        grab = (keycode, mask)
        previous = self._grabs.get(action_id)
        if previous == grab:
            return
        for other, other_grab in self._grabs.items():
            if other_grab == grab:
                raise HotkeyError(
                    f"{shortcut.text} is already the hotkey of {other!r} in desktop-vlm",
                    SETTINGS_HINT,
                )
        self._grab(grab, shortcut.text)
        if previous is not None:
            self._ungrab(previous)
        self._grabs[action_id] = grab
        logger.info("Hotkey %s registered for %r (keycode %s)", shortcut.text, action_id, keycode)
        self._drain()

    def unregister(self, action_id: str) -> None:
        grab = self._grabs.pop(action_id, None)
        if grab is None or self._display is None:
            return
        self._ungrab(grab)
        self._held.discard(grab[0])
        logger.info("Hotkey of %r unregistered", action_id)
        self._drain()

    def close(self) -> None:
        display, self._display = self._display, None
        if display is None:
            return
        self._grabs.clear()
        # At shutdown Qt may have deleted the notifier already; the display must close anyway.
        with contextlib.suppress(RuntimeError):
            self._notifier.setEnabled(False)
            # close() may run inside a slot of the notifier's own signal; delete it from the loop.
            self._notifier.deleteLater()
        # Closing the connection makes the server release every grab it holds.
        self._lib.XCloseDisplay(display)
        logger.debug("X11 hotkey connection closed")

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _require_display(self) -> int:
        if self._display is None:
            raise HotkeyError("The hotkey connection was already closed", "Restart desktop-vlm.")
        return self._display

    def _grab(self, grab: tuple[int, int], text: str) -> None:
        keycode, mask = grab
        display = self._require_display()
        with _trap_errors(self._lib, display) as errors:
            for lock_mask in self._lock_masks:
                self._lib.XGrabKey(
                    display,
                    keycode,
                    mask | lock_mask,
                    self._root,
                    False,
                    GRAB_MODE_ASYNC,
                    GRAB_MODE_ASYNC,
                )
        if not errors:
            return
        # Some lock combinations may have been grabbed before one failed; give them back.
        self._ungrab(grab)
        if BAD_ACCESS in errors:
            raise HotkeyError(f"{text} is already taken by another program", SETTINGS_HINT)
        raise HotkeyError(f"The X server refused {text} (X error {errors[0]})", SETTINGS_HINT)

    def _ungrab(self, grab: tuple[int, int]) -> None:
        keycode, mask = grab
        display = self._require_display()
        with _trap_errors(self._lib, display) as errors:
            for lock_mask in self._lock_masks:
                self._lib.XUngrabKey(display, keycode, mask | lock_mask, self._root)
        if errors:
            logger.warning("X errors %s while releasing keycode %s", errors, keycode)

    def _drain(self) -> None:
        """Handle every queued event; XSync may queue events the socket will not report again."""
        while self._display is not None and self._lib.XPending(self._display) > 0:
            self._lib.XNextEvent(self._display, ctypes.byref(self._event))
            if self._event.type == KEY_RELEASE:
                self._held.discard(self._event.xkey.keycode)
            elif self._event.type == KEY_PRESS:
                self._key_pressed(self._event.xkey.keycode, self._event.xkey.state)

    def _key_pressed(self, keycode: int, state: int) -> None:
        if keycode in self._held:
            return  # auto-repeat of a held hotkey
        self._held.add(keycode)
        mask = state & ALL_MODIFIER_MASKS & ~self._ignored
        for action_id, grab in self._grabs.items():
            if grab == (keycode, mask):
                logger.debug("Hotkey of %r pressed", action_id)
                self._on_activated(action_id)
                return
