"""Global hotkeys on Wayland through xdg-desktop-portal's GlobalShortcuts interface.

This speaks D-Bus with jeepney, not QtDBus: BindShortcuts takes an ``a(sa{sv})``, and PySide6's
QDBusArgument cannot marshal an array of structures (Qt needs a C++ type registered with
qDBusRegisterMetaType for that). jeepney is already installed on Linux with keyring. Its socket
runs on the Qt event loop through a QSocketNotifier, so there is no thread and no polling.

Portal calls answer twice: the method returns a Request object path at once, and the result
comes later as that Request's ``Response`` signal, possibly after the desktop asked the person.
A desktop that never answers is a known portal failure, hence the timeout.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jeepney import (
    DBusAddress,
    HeaderFields,
    MatchRule,
    Message,
    MessageType,
    Properties,
    new_method_call,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from PySide6.QtCore import QEventLoop, QSocketNotifier, QTimer

from desktop_vlm.core.errors import HotkeyError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.hotkeys.models import (
    README_HINT,
    SETTINGS_HINT,
    ActivatedCallback,
    Shortcut,
)

logger = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.portal.Desktop"
OBJECT_PATH = "/org/freedesktop/portal/desktop"
INTERFACE = "org.freedesktop.portal.GlobalShortcuts"
REQUEST_INTERFACE = "org.freedesktop.portal.Request"
SESSION_INTERFACE = "org.freedesktop.portal.Session"
PROBE_TIMEOUT_S = 10.0
RESPONSE_SUCCESS, RESPONSE_CANCELLED = 0, 1

# Modifier names of the XDG shortcuts specification, which preferred_trigger follows.
_TRIGGER_MODIFIERS = {"ctrl": "CTRL", "alt": "ALT", "shift": "SHIFT", "meta": "LOGO"}

PORTAL = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)


def is_compatible() -> bool:
    platform = sysinfo.platform()
    is_unix = platform.startswith("linux") or "bsd" in platform
    return is_unix and sysinfo.session_type() == "wayland"


def is_installed() -> bool:
    return portal_version() >= 1


def clear_caches() -> None:
    portal_version.cache_clear()


def _session_bus_address() -> str:
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    if address:
        return address
    # systemd user sessions put the bus here and do not always export the variable.
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime_dir and (Path(runtime_dir) / "bus").exists():
        return f"unix:path={runtime_dir}/bus"
    raise OSError("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")


def _connect() -> DBusConnection:
    return open_dbus_connection(bus=_session_bus_address())


@functools.cache
def portal_version() -> int:
    """The GlobalShortcuts portal's interface version, or 0 when the desktop has none."""
    try:
        with _connect() as connection:
            reply = connection.send_and_get_reply(
                Properties(PORTAL).get("version"), timeout=PROBE_TIMEOUT_S
            )
    except (OSError, TimeoutError, ValueError) as exc:
        logger.info("No session bus to ask for the GlobalShortcuts portal: %s", exc)
        return 0
    if reply.header.message_type == MessageType.error:
        logger.info("No GlobalShortcuts portal: %s %s", _error_name(reply), reply.body)
        return 0
    _signature, version = reply.body[0]
    logger.debug("GlobalShortcuts portal version %s", version)
    return int(version)


def preferred_trigger(shortcut: Shortcut) -> str:
    """The shortcut in the XDG shortcuts specification's syntax, e.g. "CTRL+ALT+o"."""
    names = [
        _TRIGGER_MODIFIERS[m] for m in ("ctrl", "alt", "shift", "meta") if m in shortcut.modifiers
    ]
    return "+".join([*names, shortcut.keysym_name])


def _error_name(message: Message) -> str:
    return str(message.header.fields.get(HeaderFields.error_name, "unknown error"))


class Backend:
    """One portal session on a private bus connection; closing it drops the shortcuts."""

    def __init__(self, on_activated: ActivatedCallback, *, timeout_s: float = 60.0) -> None:
        try:
            self._connection: DBusConnection | None = _connect()
        except (OSError, TimeoutError, ValueError) as exc:
            raise HotkeyError(
                f"Could not connect to the D-Bus session bus ({exc})", README_HINT
            ) from exc
        self._on_activated = on_activated
        self._timeout_s = timeout_s
        self._sender = self._connection.unique_name.lstrip(":").replace(".", "_")
        self._replies: dict[int, Message] = {}
        self._responses: dict[str, tuple[int, dict[str, Any]]] = {}
        self._wakers: list[Callable[[], None]] = []
        self._session: str | None = None
        self._shortcuts: dict[str, Shortcut] = {}
        self._notifier = QSocketNotifier(self._connection.sock.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._drain)
        request_paths = f"{OBJECT_PATH}/request/{self._sender}"
        for rule in (
            MatchRule(type="signal", interface=REQUEST_INTERFACE, path_namespace=request_paths),
            MatchRule(type="signal", interface=INTERFACE, path=OBJECT_PATH),
        ):
            self._call(message_bus.AddMatch(rule), "listening to the portal")

    def register(self, action_id: str, shortcut: Shortcut) -> None:
        if self._shortcuts.get(action_id) == shortcut:
            return
        if self._session is None:
            self._session = self._create_session()
        wanted = {**self._shortcuts, action_id: shortcut}
        bindings = [
            (
                shortcut_id,
                {
                    "description": ("s", f"desktop-vlm: {shortcut_id}"),
                    "preferred_trigger": ("s", preferred_trigger(wanted_shortcut)),
                },
            )
            for shortcut_id, wanted_shortcut in wanted.items()
        ]
        code, results = self._request(
            "BindShortcuts",
            "oa(sa{sv})sa{sv}",
            lambda options: (self._session, bindings, "", options),
            shortcut.text,
        )
        if code == RESPONSE_CANCELLED:
            raise HotkeyError(
                f"{shortcut.text} was not set because the desktop's shortcut dialog was cancelled",
                "Register it again in Settings → Hotkeys and confirm it.",
            )
        if code != RESPONSE_SUCCESS:
            raise HotkeyError(
                f"The desktop refused the global shortcut {shortcut.text}", README_HINT
            )
        bound = dict(results.get("shortcuts", ("a(sa{sv})", []))[1])
        if action_id not in bound:
            raise HotkeyError(f"The desktop did not bind {shortcut.text}", SETTINGS_HINT)
        trigger = bound[action_id].get("trigger_description", ("s", ""))[1]
        logger.info("Portal bound %r, desktop says trigger %r", action_id, trigger)
        self._shortcuts = wanted

    def unregister(self, action_id: str) -> None:
        # The portal has no call to unbind one shortcut; ignoring its Activated is the effect a
        # person notices. With nothing left, the session goes and the desktop drops them all.
        self._shortcuts.pop(action_id, None)
        if not self._shortcuts:
            self._close_session()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        self._close_session(connection)
        self._shortcuts.clear()
        self._notifier.setEnabled(False)
        # close() may run inside a slot reached from the notifier; delete it from the loop.
        self._notifier.deleteLater()
        for wake in list(self._wakers):
            wake()
        connection.close()
        logger.debug("Portal hotkey connection closed")

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # --- portal requests -----------------------------------------------------------------

    def _create_session(self) -> str:
        session_token = f"desktop_vlm_{secrets.token_hex(8)}"
        code, results = self._request(
            "CreateSession",
            "a{sv}",
            lambda options: ({**options, "session_handle_token": ("s", session_token)},),
            "a global-shortcuts session",
        )
        if code != RESPONSE_SUCCESS or "session_handle" not in results:
            raise HotkeyError(
                "The desktop refused to start a global-shortcuts session", README_HINT
            )
        session = str(results["session_handle"][1])
        logger.debug("Portal session %s", session)
        return session

    def _close_session(self, connection: DBusConnection | None = None) -> None:
        session, self._session = self._session, None
        connection = connection or self._connection
        if session is None or connection is None:
            return
        address = DBusAddress(session, bus_name=BUS_NAME, interface=SESSION_INTERFACE)
        with contextlib.suppress(OSError):
            connection.send(new_method_call(address, "Close"))

    def _request(
        self,
        method: str,
        signature: str,
        body: Callable[[dict[str, tuple[str, str]]], tuple],
        what: str,
    ) -> tuple[int, dict[str, Any]]:
        """Call a portal method and wait for its Request's Response: (code, results)."""
        options = {"handle_token": ("s", f"desktop_vlm_{secrets.token_hex(8)}")}
        reply = self._call(new_method_call(PORTAL, method, signature, body(options)), what)
        handle = str(reply.body[0])
        if not self._wait_until(lambda: handle in self._responses):
            if self._connection is not None:
                request = DBusAddress(handle, bus_name=BUS_NAME, interface=REQUEST_INTERFACE)
                with contextlib.suppress(OSError):
                    self._connection.send(new_method_call(request, "Close"))
            raise HotkeyError(
                f"The desktop did not answer the request for {what} "
                f"within {self._timeout_s:g} seconds",
                f"Try again from Settings → Hotkeys. {README_HINT}",
            )
        code, results = self._responses.pop(handle)
        return int(code), dict(results)

    def _call(self, message: Message, what: str) -> Message:
        """Send a method call and wait for its reply while the Qt event loop keeps running."""
        connection = self._require_connection()
        serial = next(connection.outgoing_serial)
        try:
            connection.send(message, serial=serial)
        except OSError as exc:
            raise HotkeyError(
                f"Lost the D-Bus session bus ({exc})", "Restart desktop-vlm."
            ) from exc
        if not self._wait_until(lambda: serial in self._replies):
            raise HotkeyError(
                f"The desktop did not answer the request for {what}",
                f"Try again from Settings → Hotkeys. {README_HINT}",
            )
        reply = self._replies.pop(serial)
        if reply.header.message_type == MessageType.error:
            detail = reply.body[0] if reply.body else _error_name(reply)
            raise HotkeyError(
                f"The desktop's GlobalShortcuts portal refused {what}: {detail}", README_HINT
            )
        return reply

    def _require_connection(self) -> DBusConnection:
        if self._connection is None:
            raise HotkeyError("The hotkey connection was already closed", "Restart desktop-vlm.")
        return self._connection

    def _wait_until(self, condition: Callable[[], bool]) -> bool:
        """Run a local event loop until ``condition`` holds; False after the timeout."""
        deadline = time.monotonic() + self._timeout_s
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._connection is None:
                return False
            loop = QEventLoop()
            timer = QTimer(singleShot=True, interval=int(remaining * 1000) + 1)
            timer.timeout.connect(loop.quit)
            self._wakers.append(loop.quit)
            timer.start()
            try:
                loop.exec()
            finally:
                timer.stop()
                self._wakers.remove(loop.quit)
        return True

    # --- incoming messages ---------------------------------------------------------------

    def _drain(self) -> None:
        """Handle every message the socket has; jeepney may have buffered more than one."""
        activated: list[str] = []
        while self._connection is not None:
            try:
                message = self._connection.receive(timeout=0)
            except TimeoutError:
                break
            except OSError as exc:
                logger.warning("Lost the D-Bus session bus: %s", exc)
                self._notifier.setEnabled(False)
                break
            activated.extend(self._dispatch(message))
        for wake in list(self._wakers):
            wake()
        for action_id in activated:
            self._on_activated(action_id)

    def _dispatch(self, message: Message) -> list[str]:
        """Store replies and responses; return the action ids this message activates."""
        header = message.header
        if header.message_type in (MessageType.method_return, MessageType.error):
            self._replies[header.fields[HeaderFields.reply_serial]] = message
            return []
        if header.message_type != MessageType.signal:
            return []
        interface = header.fields.get(HeaderFields.interface)
        member = header.fields.get(HeaderFields.member)
        if interface == REQUEST_INTERFACE and member == "Response":
            code, results = message.body
            self._responses[str(header.fields[HeaderFields.path])] = (code, results)
        elif interface == INTERFACE and member == "Activated":
            session, shortcut_id = message.body[0], message.body[1]
            if session == self._session and shortcut_id in self._shortcuts:
                logger.debug("Portal shortcut %r activated", shortcut_id)
                return [shortcut_id]
        elif interface == INTERFACE and member == "ShortcutsChanged":
            logger.info("The desktop changed the global shortcuts: %s", message.body[1])
        return []
