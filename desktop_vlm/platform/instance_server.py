"""The listening side of the single-instance socket, driven by Qt's event loop.

No polling and no thread: a QSocketNotifier wakes us when a client connects or sends. A client
that is not this user, sends garbage, sends too much or dawdles is dropped without a reply.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal

from desktop_vlm.platform import instance

log = logging.getLogger(__name__)

CLIENT_TIMEOUT_MS = 2000


class AlreadyRunning(Exception):
    pass


class InstanceServer(QObject):
    """Owns the instance lock and socket; emits each valid command received."""

    command_received = Signal(str, object, object)  # command, preset id, capture handler

    def __init__(
        self,
        validate: Callable[[str, str | None], str | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``validate(command, preset)`` returns why a command is refused (None: accepted),
        so that `desktop-vlm capture --preset nosuch` fails at the command line."""
        super().__init__(parent)
        self._validate = validate
        self._seen: deque[str] = deque(maxlen=64)  # ids acted on: a resent command runs once
        self._pause = QTimer(self, singleShot=True, interval=1000, timeout=self._resume)
        self._lock_fd = -1
        self._sock: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._clients: dict[int, tuple[socket.socket, bytearray, QSocketNotifier, QTimer]] = {}

    def start(self) -> None:
        """Take the per-user lock and listen; AlreadyRunning if another app holds the lock."""
        lock_fd = os.open(instance.lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise AlreadyRunning() from None
        self._lock_fd = lock_fd
        path = instance.socket_path()
        # We hold the lock, so a socket file left here is stale (a crashed app).
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        sock.listen(8)
        sock.setblocking(False)
        self._sock = sock
        self._notifier = QSocketNotifier(sock.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._accept)
        log.info("listening on %s", path)

    def stop(self) -> None:
        for fd in list(self._clients):
            self._drop(fd)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            try:
                instance.socket_path().unlink()
            except OSError:
                pass
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # --- connections ----------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Out of file descriptors (EMFILE, ENFILE): the pending connection stays, so the
                # notifier would fire again at once, forever. Stop listening for a second.
                log.warning("accept failed: %s; pausing the listener for 1 s", exc)
                if self._notifier is not None:
                    self._notifier.setEnabled(False)
                    self._pause.start()
                return
            if not _same_user(conn):
                log.warning("dropped a connection from another user")
                conn.close()
                continue
            conn.setblocking(False)
            fd = conn.fileno()
            notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(lambda fd=fd: self._drop(fd))
            timer.start(CLIENT_TIMEOUT_MS)
            self._clients[fd] = (conn, bytearray(), notifier, timer)
            notifier.activated.connect(lambda *_args, fd=fd: self._read(fd))

    def _read(self, fd: int) -> None:
        entry = self._clients.get(fd)
        if entry is None:
            return
        conn, buf, _, _ = entry
        try:
            chunk = conn.recv(instance.MAX_MESSAGE + 1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(fd)
            return
        if not chunk:
            self._drop(fd)
            return
        buf += chunk
        if len(buf) > instance.MAX_MESSAGE:
            log.warning("dropped an oversized message")
            self._drop(fd)
            return
        if b"\n" not in buf:
            return
        line = bytes(buf.split(b"\n", 1)[0])
        parsed = instance.decode(line)
        if parsed is None:
            log.warning("dropped a malformed message")
            self._drop(fd)
            return
        command, preset, handler, message_id = parsed
        refusal = self._validate(command, preset) if self._validate else None
        duplicate = bool(message_id) and message_id in self._seen
        reply = {"ok": refusal is None}
        if refusal:
            reply["error"] = refusal
        try:
            conn.setblocking(True)
            conn.settimeout(1.0)
            conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        self._drop(fd)
        if refusal or duplicate:
            log.info("not acting on %s: %s", command, refusal or "already received")
            return
        if message_id:
            self._seen.append(message_id)
        log.info("received %s (preset %s)", command, preset)
        self.command_received.emit(command, preset, handler)

    def _resume(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(True)

    def _drop(self, fd: int) -> None:
        entry = self._clients.pop(fd, None)
        if entry is None:
            return
        conn, _, notifier, timer = entry
        notifier.setEnabled(False)
        notifier.deleteLater()
        timer.stop()
        timer.deleteLater()
        conn.close()


def _same_user(conn: socket.socket) -> bool:
    """The peer's uid via SO_PEERCRED (Linux); elsewhere the 0700 directory is the guard."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()
