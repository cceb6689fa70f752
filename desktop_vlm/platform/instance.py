"""One app per user: a local socket the running app listens on, and the tiny client that
forwards a command to it.

This module imports only the standard library, because the forwarding side runs in the short
``desktop-vlm capture`` process bound to a keyboard shortcut, which must not pay for Qt. The
listening side (``instance_server``) lives apart for the same reason.

Safety: the socket sits in a directory only this user can enter (XDG_RUNTIME_DIR, or a 0700
directory of our own), and the server also checks the peer's uid (SO_PEERCRED). A message is
one JSON line of at most ``MAX_MESSAGE`` bytes; anything else is dropped.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
import uuid
from pathlib import Path

from desktop_vlm.core.vocabulary import APP_COMMANDS, CAPTURE_METHOD_NAMES

MAX_MESSAGE = 4096
PROTOCOL_VERSION = 1
COMMANDS = APP_COMMANDS
HANDLERS = CAPTURE_METHOD_NAMES


def runtime_dir() -> Path:
    """A directory private to this user (created 0700; refused if anyone else can enter)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        path = Path(base) / "desktop-vlm"
    else:
        import tempfile

        path = Path(tempfile.gettempdir()) / f"desktop-vlm-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a directory owned by this user; remove it")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def socket_path() -> Path:
    return runtime_dir() / "instance.sock"


def lock_path() -> Path:
    return runtime_dir() / "instance.lock"


def encode(
    command: str, preset: str | None = None, handler: str | None = None, message_id: str = ""
) -> bytes:
    message = {"v": PROTOCOL_VERSION, "command": command, "id": message_id or uuid.uuid4().hex}
    if preset:
        message["preset"] = preset
    if handler:
        message["handler"] = handler
    return json.dumps(message).encode() + b"\n"


def decode(data: bytes) -> tuple[str, str | None, str | None, str] | None:
    """(command, preset, handler, id) from one message, or None when it is malformed."""
    if len(data) > MAX_MESSAGE:
        return None
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(message, dict) or message.get("v") != PROTOCOL_VERSION:
        return None
    command, preset = message.get("command"), message.get("preset")
    if command not in COMMANDS:
        return None
    if preset is not None and (not isinstance(preset, str) or len(preset) > 100):
        return None
    handler = message.get("handler")
    if handler is not None and handler not in HANDLERS:
        return None
    message_id = message.get("id", "")
    if not isinstance(message_id, str) or len(message_id) > 64:
        return None
    return command, preset, handler, message_id


class NotRunning(Exception):
    """No app is listening."""


class NoReply(Exception):
    """The command was delivered but the app did not answer in time (it is busy): it will
    still act on it, so the command must not be sent again."""


def hand_off(
    command: str,
    preset: str | None = None,
    handler: str | None = None,
    *,
    timeout: float = 5.0,
    wait_s: float = 0.0,
) -> dict:
    """Hand ``command`` to the running app; its reply as a dict.

    Raises NotRunning when no app listens (after waiting up to ``wait_s`` for one that is
    starting) and NoReply when the app took the message but did not answer within ``timeout``.
    Every message carries an id, so even a resent one is acted on once.
    """
    deadline = time.monotonic() + wait_s
    message_id = uuid.uuid4().hex
    while True:
        try:
            return _send_once(command, preset, handler, timeout, message_id)
        except NotRunning:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def send(
    command: str, preset: str | None = None, timeout: float = 5.0, handler: str | None = None
) -> dict:
    """One attempt of ``hand_off`` (kept for callers that do not wait)."""
    return hand_off(command, preset, handler, timeout=timeout)


def _send_once(
    command: str, preset: str | None, handler: str | None, timeout: float, message_id: str
) -> dict:
    path = socket_path()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ECONNREFUSED):
                raise NotRunning() from None
            raise
        sock.sendall(encode(command, preset, handler, message_id))
        reply = b""
        try:
            while not reply.endswith(b"\n") and len(reply) < MAX_MESSAGE:
                chunk = sock.recv(MAX_MESSAGE)
                if not chunk:
                    break
                reply += chunk
        except TimeoutError:
            raise NoReply() from None
    finally:
        sock.close()
    try:
        parsed = json.loads(reply.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"ok": False, "error": "the running app sent a malformed reply"}
    return parsed if isinstance(parsed, dict) else {"ok": False, "error": "malformed reply"}
