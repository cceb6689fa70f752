"""Another program on the X display that wants the same hotkey: a tiny libX11 client.

``python hotkey_grabber.py KEYSYM MODIFIERS [--numlock] [--hold]`` grabs KEYSYM (e.g. "o") with
MODIFIERS (e.g. "ctrl+alt") on the root window of $DISPLAY, like any hotkey daemon would.
It prints "grabbed" or "taken" (someone else holds it: BadAccess). With --hold it keeps the grab
until its stdin closes; then it exits (0 grabbed, 3 taken), which releases the grab.
--numlock grabs the combination with NumLock (Mod2) on instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

BAD_ACCESS = 10
MASKS = {"shift": 1, "ctrl": 4, "alt": 8, "meta": 64, "super": 64}
MOD2_NUMLOCK = 16

errors: list[int] = []


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


ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(XErrorEvent))


def _record(_display: int, event: ctypes._Pointer) -> int:
    errors.append(event.contents.error_code)
    return 0


on_error = ERROR_HANDLER(_record)


def main() -> int:
    keysym_name, modifiers = sys.argv[1], sys.argv[2]
    numlock = "--numlock" in sys.argv[3:]
    hold = "--hold" in sys.argv[3:]
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XStringToKeysym.restype = ctypes.c_ulong
    x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
    x11.XKeysymToKeycode.restype = ctypes.c_ubyte
    x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XGrabKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong]
    x11.XGrabKey.argtypes += [ctypes.c_int] * 3
    x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x11.XSetErrorHandler(on_error)

    display = x11.XOpenDisplay(None)
    if not display:
        print("no display", flush=True)
        return 2
    keycode = x11.XKeysymToKeycode(display, x11.XStringToKeysym(keysym_name.encode()))
    mask = sum(MASKS[name] for name in modifiers.lower().split("+") if name)
    if numlock:
        mask |= MOD2_NUMLOCK
    x11.XGrabKey(display, keycode, mask, x11.XDefaultRootWindow(display), 0, 1, 1)
    x11.XSync(display, 0)
    taken = BAD_ACCESS in errors
    print("taken" if taken else "grabbed", flush=True)
    if hold:
        sys.stdin.read()
    x11.XCloseDisplay(display)
    return 3 if taken else 0


if __name__ == "__main__":
    sys.exit(main())
