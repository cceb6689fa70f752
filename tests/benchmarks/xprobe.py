"""Watch an X display for "a window appeared and its pixels are on screen", cheaply.

ctypes over libxcb (always present where Qt's xcb platform runs), so the watcher costs one
round trip per look and imports nothing heavy:

- MapNotify events for every top-level window (SubstructureNotify on the root) say when a window
  is mapped; the watcher sleeps in select() on the connection until one comes, so waiting costs
  no CPU and adds no load to the X server;
- after that, a 1x1 GetImage of the root at a probe point, every ``POLL`` seconds, says when the
  pixel there differs from the root background (an overlay dims it, so it always changes).
  Without a compositor, the root's image is what the screen shows.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import select
import time

POLL = 0.00025
_MAP_NOTIFY = 19
_SUBSTRUCTURE_NOTIFY = 1 << 19
_CW_BACK_PIXEL = 1 << 1
_CW_EVENT_MASK = 1 << 11
_Z_PIXMAP = 2


class _ScreenIterator(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("rem", ctypes.c_int), ("index", ctypes.c_int)]


class _Cookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _MapNotify(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("pad0", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("event", ctypes.c_uint32),
        ("window", ctypes.c_uint32),
        ("override_redirect", ctypes.c_uint8),
    ]


def _lib() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("xcb") or "libxcb.so.1")
    lib.xcb_connect.restype = ctypes.c_void_p
    lib.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    lib.xcb_get_setup.restype = ctypes.c_void_p
    lib.xcb_get_setup.argtypes = [ctypes.c_void_p]
    lib.xcb_setup_roots_iterator.restype = _ScreenIterator
    lib.xcb_setup_roots_iterator.argtypes = [ctypes.c_void_p]
    lib.xcb_get_file_descriptor.argtypes = [ctypes.c_void_p]
    lib.xcb_get_image.restype = _Cookie
    lib.xcb_get_image.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint8,
        ctypes.c_uint32,
        ctypes.c_int16,
        ctypes.c_int16,
        ctypes.c_uint16,
        ctypes.c_uint16,
        ctypes.c_uint32,
    ]
    lib.xcb_get_image_reply.restype = ctypes.c_void_p
    lib.xcb_get_image_reply.argtypes = [ctypes.c_void_p, _Cookie, ctypes.c_void_p]
    lib.xcb_get_image_data.restype = ctypes.POINTER(ctypes.c_uint8)
    lib.xcb_get_image_data.argtypes = [ctypes.c_void_p]
    lib.xcb_change_window_attributes.restype = _Cookie
    lib.xcb_change_window_attributes.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.POINTER(ctypes.c_uint32),
    ]
    lib.xcb_clear_area.restype = _Cookie
    lib.xcb_clear_area.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint8,
        ctypes.c_uint32,
        ctypes.c_int16,
        ctypes.c_int16,
        ctypes.c_uint16,
        ctypes.c_uint16,
    ]
    lib.xcb_flush.argtypes = [ctypes.c_void_p]
    lib.xcb_poll_for_event.restype = ctypes.c_void_p
    lib.xcb_poll_for_event.argtypes = [ctypes.c_void_p]
    lib.xcb_disconnect.argtypes = [ctypes.c_void_p]
    return lib


_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.free.argtypes = [ctypes.c_void_p]


class XProbe:
    def __init__(self, display: str, point: tuple[int, int] = (24, 540)) -> None:
        self._x = _lib()
        self.conn = self._x.xcb_connect(display.encode(), None)
        if not self.conn or self._x.xcb_connection_has_error(self.conn):
            raise RuntimeError(f"cannot connect to X display {display}")
        screen = self._x.xcb_setup_roots_iterator(self._x.xcb_get_setup(self.conn)).data
        self.root = ctypes.c_uint32.from_address(screen).value
        self.fd = self._x.xcb_get_file_descriptor(self.conn)
        self.point = point
        mask = (ctypes.c_uint32 * 1)(_SUBSTRUCTURE_NOTIFY)
        self._x.xcb_change_window_attributes(self.conn, self.root, _CW_EVENT_MASK, mask)
        self._x.xcb_flush(self.conn)

    def set_background(self, rgb: tuple[int, int, int]) -> None:
        """Paint the root a solid colour, so any overlay visibly changes the probe pixel."""
        pixel = (ctypes.c_uint32 * 1)((rgb[0] << 16) | (rgb[1] << 8) | rgb[2])
        self._x.xcb_change_window_attributes(self.conn, self.root, _CW_BACK_PIXEL, pixel)
        self._x.xcb_clear_area(self.conn, 0, self.root, 0, 0, 0, 0)
        self._x.xcb_flush(self.conn)
        self.pixel()  # a round trip: the clear is done

    def pixel(self) -> tuple[int, int, int]:
        x, y = self.point
        cookie = self._x.xcb_get_image(self.conn, _Z_PIXMAP, self.root, x, y, 1, 1, 0xFFFFFFFF)
        reply = self._x.xcb_get_image_reply(self.conn, cookie, None)
        if not reply:
            raise RuntimeError("GetImage failed")
        try:
            data = self._x.xcb_get_image_data(reply)
            return data[2], data[1], data[0]  # BGRX on little-endian 24-bit visuals
        finally:
            _libc.free(reply)

    def drain(self) -> None:
        """Forget events so far."""
        while True:
            event = self._x.xcb_poll_for_event(self.conn)
            if not event:
                return
            _libc.free(event)

    def _maps(self) -> list[int]:
        windows = []
        while True:
            event = self._x.xcb_poll_for_event(self.conn)
            if not event:
                return windows
            notify = _MapNotify.from_address(event)
            if notify.response_type & 0x7F == _MAP_NOTIFY:
                windows.append(notify.window)
            _libc.free(event)

    def wait_shown(
        self, background: tuple[int, int, int], timeout: float = 10.0
    ) -> tuple[float, float]:
        """time.monotonic() of the first MapNotify and of the probe pixel leaving
        ``background``; waits in select() until a window maps, then polls the pixel."""
        deadline = time.monotonic() + timeout
        mapped = None
        while mapped is None:
            if self._maps():
                mapped = time.monotonic()
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no window was mapped")
            select.select([self.fd], [], [], min(left, 0.05))
        while True:
            if self.pixel() != background:
                return mapped, time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError("a window was mapped but the screen did not change")
            time.sleep(POLL)

    def wait_pixel(self, wanted: tuple[int, int, int], timeout: float = 10.0) -> float:
        """Poll until the probe pixel is ``wanted`` again (the overlay is gone)."""
        deadline = time.monotonic() + timeout
        while self.pixel() != wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the screen did not return to {wanted}")
            time.sleep(0.002)
        return time.monotonic()

    def close(self) -> None:
        self._x.xcb_disconnect(self.conn)
