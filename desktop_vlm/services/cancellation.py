"""Cancel a request from any thread, including while it waits on the network.

Stdlib only, so that code which merely holds a Cancellation (the GUI's stream worker) does not
pull in the HTTP stack at start-up.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from desktop_vlm.core import errors as E


class Cancellation:
    """Cancels one request from any thread, including while it waits on the network."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(seconds)

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not self._event.is_set():
                self._sockets.append(sock)
                return
        _shutdown(sock)

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise E.CancelledError("Stopped", "")


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for SSL sockets: it leaves the SSL object alone while
    # another thread may be inside SSL_read.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


#: The Cancellation of the request the current thread is sending (read by the connection).
_active = threading.local()
